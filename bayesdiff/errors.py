"""Exceptions and warnings raised by bayesdiff.

Every error derives from :class:`BayesdiffError`. Errors about data carry the
place where the problem is (``file``, ``track`` id and ``row``) both as
attributes and in the message, so a user can find the offending line.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BayesdiffError",
    "TrackError",
    "NonFiniteError",
    "DuplicateFrameError",
    "UnorderedFramesError",
    "TrackTooShortError",
    "DimensionError",
    "FileFormatError",
    "MissingColumnError",
    "EmptyFileError",
    "MalformedXMLError",
    "ParameterError",
    "ModelError",
    "InferenceError",
    "MethodError",
    "NetworkFileError",
    "DiagnosticsWarning",
    "DataWarning",
    "where",
]


def where(file: Any = None, track: Any = None, row: Any = None) -> str:
    """Format a location as ``"file 'a.csv', track 3, row 17"`` (None parts are left out)."""
    parts = []
    if file is not None:
        parts.append(f"file '{file}'")
    if track is not None:
        parts.append(f"track {track!r}" if not isinstance(track, int) else f"track {track}")
    if row is not None:
        parts.append(f"row {row}")
    return ", ".join(parts)


class BayesdiffError(Exception):
    """Base class of every bayesdiff error."""


class TrackError(BayesdiffError, ValueError):
    """Something is wrong with a track's data.

    Attributes
    ----------
    file, track, row : object or None
        Where the problem is: the source file, the track id and the row of the
        file (or of the positions array when there is no file).
    """

    def __init__(self, message: str, *, file: Any = None, track: Any = None, row: Any = None):
        self.file, self.track, self.row = file, track, row
        loc = where(file, track, row)
        super().__init__(f"{loc}: {message}" if loc else message)


class NonFiniteError(TrackError):
    """A coordinate is NaN or infinite."""


class DuplicateFrameError(TrackError):
    """Two detections of one track share a frame number."""


class UnorderedFramesError(TrackError):
    """Frame numbers of a track are not increasing."""


class TrackTooShortError(TrackError):
    """A track has fewer points than a model or method needs."""


class RepeatedPositionsError(TrackError):
    """Most steps of a track repeat the previous position exactly (a tracker holding a
    lost spot, say): a continuous motion model gives that probability zero."""


class DimensionError(TrackError):
    """Positions have an unsupported or inconsistent number of coordinates."""


class FileFormatError(BayesdiffError, ValueError):
    """A file cannot be read as tracks."""

    def __init__(self, message: str, *, file: Any = None, row: Any = None):
        self.file, self.row = file, row
        loc = where(file, None, row)
        super().__init__(f"{loc}: {message}" if loc else message)


class MissingColumnError(FileFormatError):
    """A required column (track id, frame, coordinate) is absent."""


class EmptyFileError(FileFormatError):
    """The file holds no detections."""


class MalformedXMLError(FileFormatError):
    """An XML file cannot be parsed or does not look like a TrackMate file."""


class ParameterError(BayesdiffError, ValueError):
    """A model parameter is missing, misshapen or outside its support."""


class ModelError(BayesdiffError, ValueError):
    """A model is configured wrongly or cannot be used for the given data."""


class MethodError(ModelError):
    """An inference method cannot handle this model, prior or data.

    The message names the method, the parameter and prior concerned, and the
    method to use instead.
    """


class InferenceError(BayesdiffError, RuntimeError):
    """Inference failed (for example, a non-finite log density at the start)."""


class NetworkFileError(BayesdiffError, ValueError):
    """A saved network cannot be loaded (missing, corrupted or incompatible)."""


class DiagnosticsWarning(UserWarning):
    """Sampling diagnostics (R-hat, ESS, divergences) failed a threshold."""


class DataWarning(UserWarning):
    """Input data were changed or left out on reading, and said so.

    For example: frames out of order were sorted, bad tracks were skipped with
    ``on_error="skip"``, rows without a track id were ignored.
    """
