"""numba's ``njit`` for the engines' kernels, with numba's import and BLAS probe made cheap.

On the first call of any compiled function numba imports ``numba.np.arraymath``, which
probes for BLAS with ``import scipy.linalg.cython_blas``. That import runs the whole
``scipy.linalg`` package (~0.2 s: scipy's array-API layer walks all of numpy), and even
that one extension alone costs the scipy package and its OpenBLAS library (~0.07 s),
although no kernel here calls BLAS. The probe only decides how numba compiles
``np.correlate``/``np.convolve`` (BLAS or numba's own loop; no kernel here uses them), so
``numba.np.arraymath`` is imported with that extension hidden: the probe finds no BLAS
and scipy is not imported. The name is released at once: ``np.dot`` or ``np.linalg`` in
a kernel import BLAS when they compile, and ``import scipy.linalg`` works as usual.
Nothing the kernels here compile to changes. numba itself is imported without PyYAML
unless a ``.numba_config.yaml`` (the only file it reads yaml for) is there to read.
"""

from __future__ import annotations

import os
import sys


def _import_numba_without_yaml() -> None:
    """Import numba with PyYAML hidden when the working directory has no
    ``.numba_config.yaml``: numba's config imports yaml (~0.03 s) only to read that file.
    A later ``import yaml`` imports it as usual."""
    if "numba" in sys.modules or "yaml" in sys.modules or os.path.isfile(".numba_config.yaml"):
        return
    sys.modules["yaml"] = None  # type: ignore[assignment]  # ``import yaml`` raises ImportError meanwhile
    try:
        import numba  # noqa: F401
    finally:
        del sys.modules["yaml"]


_import_numba_without_yaml()

from numba import njit  # noqa: E402

__all__ = ["njit"]

_BLAS = "scipy.linalg.cython_blas"


def _skip_blas_probe() -> None:
    """Import ``numba.np.arraymath`` with ``scipy.linalg.cython_blas`` hidden (its BLAS probe
    then finds none and imports no scipy), then release the name (see the module docstring)."""
    if _BLAS in sys.modules or "numba.np.arraymath" in sys.modules:
        return  # scipy's BLAS is loaded already, or numba probed already: nothing to save
    sys.modules[_BLAS] = None  # type: ignore[assignment]  # ``import`` of it raises ImportError meanwhile
    try:
        import numba.np.arraymath  # noqa: F401  (its import runs the probe)
    finally:
        del sys.modules[_BLAS]


_skip_blas_probe()
