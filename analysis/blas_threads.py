"""Run small dense linear algebra on one BLAS thread.

The DRAM fit factors many ~100-500 column matrices. OpenBLAS threads them, and on a
busy 2-core machine its spinning threads made one Cholesky factorisation 14x slower
(16 ms instead of 1.1 ms at 300 columns). ``one_thread()`` sets every loaded OpenBLAS
(numpy and scipy each bundle one) to one thread for the block and restores it after,
through OpenBLAS's own ``*_set_num_threads`` entry points (as threadpoolctl does); where
none is found it does nothing.
"""
from __future__ import annotations

import ctypes
from contextlib import contextmanager

_PREFIXES = ("openblas", "scipy_openblas")
_SUFFIXES = ("", "64_")
_handles: list | None = None


def _openblas() -> list:
    global _handles
    if _handles is None:
        _handles = []
        import scipy.linalg  # noqa: F401  scipy is imported lazily (analysis/lazy.py): load its OpenBLAS before the scan
        try:
            with open("/proc/self/maps") as f:
                paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln and ln.rstrip().endswith(".so")})
        except OSError:
            paths = []
        for p in paths:
            try:
                lib = ctypes.CDLL(p)
            except OSError:
                continue
            for pre in _PREFIXES:
                for suf in _SUFFIXES:
                    get = getattr(lib, f"{pre}_get_num_threads{suf}", None)
                    put = getattr(lib, f"{pre}_set_num_threads{suf}", None)
                    if get is not None and put is not None:
                        _handles.append((get, put))
    return _handles


@contextmanager
def one_thread():
    hs = _openblas()
    before = [get() for get, _ in hs]
    for _, put in hs:
        put(1)
    try:
        yield
    finally:
        for (_, put), n in zip(hs, before):
            put(n)
