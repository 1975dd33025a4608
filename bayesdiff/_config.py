"""Process-wide JAX set-up done once, before JAX is first imported.

* float64 everywhere (likelihoods are evaluated in double precision),
* CPU chains in parallel: JAX exposes one host "device" by default, so NUTS
  chains would run one after the other. Unless the user already set
  ``--xla_force_host_platform_device_count`` (or imported JAX first), bayesdiff
  asks for ``max(4, cpu count)`` host devices, which lets four chains run
  side by side on the machine's cores. Set ``BAYESDIFF_HOST_DEVICES`` to
  override the number.
"""

from __future__ import annotations

import os
import sys


def _configure() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    n = int(os.environ.get("BAYESDIFF_HOST_DEVICES", max(4, os.cpu_count() or 1)))
    if "jax" not in sys.modules and "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
    import jax

    jax.config.update("jax_enable_x64", True)
    if "xla_force_host_platform_device_count" not in flags and jax.config.jax_num_cpu_devices < 0:
        # JAX imported before bayesdiff: still possible while no backend is initialized
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except Exception:  # a backend exists already: keep what the user has
            pass


_configure()
