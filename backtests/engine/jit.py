"""numba's ``njit`` for the engines' kernels, with numba's import and BLAS probe made cheap.

On the first call of any compiled function numba imports ``numba.np.arraymath``, which
probes for BLAS with ``import scipy.linalg.cython_blas``. That import first runs the
whole ``scipy.linalg`` package (~0.2 s: scipy's array-API layer walks all of numpy),
although the probe only wants the ``cython_blas`` extension, and no kernel here calls
BLAS. Loading that one extension module under its own name and running the probe then
lets it skip the rest. Nothing numba compiles changes; if scipy is missing or laid out
differently, nothing is preloaded and the probe runs as it always does. numba itself is
imported without PyYAML unless a ``.numba_config.yaml`` (the only file it reads yaml for)
is there to read.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
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


def _probe_blas_cheaply() -> None:
    """Run numba's BLAS probe now against ``scipy.linalg.cython_blas`` loaded alone, then
    forget that module's name, so a later ``import scipy.linalg`` (or a kernel that does
    use BLAS) imports the package as usual and gets the same extension module back."""
    if _BLAS in sys.modules or "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    try:
        scipy = importlib.util.find_spec("scipy")
        if scipy is None or not scipy.submodule_search_locations:
            return
        folders = [os.path.join(folder, "linalg") for folder in scipy.submodule_search_locations]
        spec = importlib.machinery.PathFinder.find_spec(_BLAS, folders)
        if spec is None or spec.loader is None:
            return
        module = importlib.util.module_from_spec(spec)
        sys.modules[_BLAS] = module
        spec.loader.exec_module(module)
        import numba.np.arraymath  # noqa: F401  (its import runs the probe, which finds the module above)
    except (ImportError, OSError):
        pass  # numba's own probe imports it the usual way
    finally:
        sys.modules.pop(_BLAS, None)


_probe_blas_cheaply()
