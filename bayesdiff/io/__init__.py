"""Reading and writing tracks: CSV, Parquet, TrackMate XML and pandas DataFrames.

:func:`read_tracks` turns a file (or a DataFrame) of detections into a
:class:`~bayesdiff.tracks.TrackSet`, checking it on the way; :func:`write_tracks`
writes a TrackSet back as CSV or Parquet; :func:`describe` summarizes a
TrackSet for ``bayesdiff info``; :func:`example_tracks` reads the real tracks
shipped with the package. ``docs/file-formats.md`` is the user's guide.

Row numbers
-----------
Every error about data names the file, the track id and the *row* where the
problem is, and every :class:`~bayesdiff.tracks.Track` read from a file keeps
the rows of its points (``Track.rows``). A row is

* CSV/TSV/TXT: the 1-based line number in the file, the header being line 1
  (so the first detection is on row 2, or row 5 in a TrackMate spots CSV with
  its three extra header lines) -- what a text editor shows;
* Parquet and DataFrame: the 0-based position of the row in the table
  (``df.iloc[row]``, whatever the DataFrame's index is);
* TrackMate XML: the 0-based index of the ``<detection>`` element (simple
  "Tracks" export) or of the ``<Spot>`` element (full session file) among all
  such elements of the file, in file order.

Modules
-------
The public functions live in ``_read`` (:func:`read_tracks`,
:func:`example_tracks`), ``_write`` (:func:`write_tracks`) and ``_summary``
(:func:`describe`). The readers are split by format: ``_tables`` (CSV,
Parquet, DataFrame) and ``_trackmate`` (TrackMate XML) turn a source into one
long table of detections (``_common.Long``); ``_assemble`` converts its units
and groups it into checked tracks.
"""

from ._common import COLUMN_NAMES as COLUMN_NAMES
from ._common import logger as logger
from ._read import example_tracks as example_tracks
from ._read import read_tracks as read_tracks
from ._summary import TrackSummary as TrackSummary
from ._summary import describe as describe
from ._write import write_tracks as write_tracks

__all__ = ["read_tracks", "write_tracks", "describe", "TrackSummary", "example_tracks"]
