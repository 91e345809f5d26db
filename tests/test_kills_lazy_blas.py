"""analysis/lazy.py and analysis/blas_threads.py (issue 31): a lazy module or function
imports nothing until it is used, then behaves as the real one; one_thread() sets every
OpenBLAS loaded in the process (numpy's and scipy's) to one thread inside the block and
restores each one's count after, even when the block raises. The thread counts are read
through OpenBLAS's own entry points, found independently of the module."""
import ctypes
import subprocess
import sys

import pytest

from stepscope.analysis import blas_threads
from stepscope.analysis.lazy import LazyModule, lazy_function


def test_a_lazy_module_imports_on_first_attribute():
    code = ("import sys; from stepscope.analysis.lazy import LazyModule; m = LazyModule('wave'); "
            "print('wave' in sys.modules); e = m.Error; print('wave' in sys.modules, e.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "Error"]
    m = LazyModule("json")
    assert m.dumps([1]) == "[1]"
    with pytest.raises(AttributeError, match="^__wrapped__$"):
        _ = m.__wrapped__               # dunder lookups (copy, pickle, inspect) are not forwarded
    with pytest.raises(AttributeError):
        _ = LazyModule("json").no_such_name


def test_a_lazy_function_imports_on_first_call():
    code = ("import sys; from stepscope.analysis.lazy import lazy_function; f = lazy_function('wave', 'open'); "
            "print('wave' in sys.modules, f.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "open"]
    hyp = lazy_function("math", "hypot")
    assert hyp(3.0, 4.0) == 5.0 and hyp.__name__ == "hypot"
    assert lazy_function("json", "dumps")({"b": 1, "a": 2}, sort_keys=True) == '{"a": 2, "b": 1}'     # keywords pass


def _openblas_counts():
    """(name, get) of every OpenBLAS in the process, found from /proc/self/maps here."""
    import scipy.linalg  # noqa: F401  loads scipy's OpenBLAS
    out = []
    with open("/proc/self/maps") as f:
        libs = sorted({ln.split()[-1] for ln in f if "openblas" in ln and ln.rstrip().endswith(".so")})
    for p in libs:
        lib = ctypes.CDLL(p)
        for sym in ("openblas_get_num_threads", "openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                    "scipy_openblas_get_num_threads64_"):
            if hasattr(lib, sym):
                out.append((f"{p}:{sym}", getattr(lib, sym), getattr(lib, sym.replace("get", "set"))))
    return out


def test_one_thread_sets_every_openblas_to_one_and_restores_each(monkeypatch):
    monkeypatch.setattr(blas_threads, "_handles", None)      # scan afresh (an earlier test may have)
    libs = _openblas_counts()
    assert libs, "no OpenBLAS found in the process (numpy and scipy bundle one each)"
    for i, (_, _, put) in enumerate(libs):
        put(2 + i % 2)                    # different counts, to see each restored to its own
    before = [get() for _, get, _ in libs]
    with blas_threads.one_thread():
        assert [get() for _, get, _ in libs] == [1] * len(libs)
    assert [get() for _, get, _ in libs] == before
    with pytest.raises(ValueError):
        with blas_threads.one_thread():
            raise ValueError("inside")
    assert [get() for _, get, _ in libs] == before
    assert len(blas_threads._openblas()) >= len({name.split(":")[0] for name, _, _ in libs})
    assert blas_threads._openblas() is blas_threads._openblas()     # scanned once


def test_without_proc_maps_nothing_is_found(monkeypatch):
    import builtins
    real = builtins.open

    def no_maps(path, *a, **k):
        if path == "/proc/self/maps":
            raise OSError("no procfs")
        return real(path, *a, **k)
    monkeypatch.setattr(blas_threads, "_handles", None)
    monkeypatch.setattr(builtins, "open", no_maps)
    assert blas_threads._openblas() == []
    with blas_threads.one_thread():
        pass


def test_a_library_that_will_not_load_is_passed_over(monkeypatch):
    """The scan goes on past a library ctypes cannot load: the OpenBLAS found after it still
    count (numpy and scipy each bundle one, so there are two)."""
    monkeypatch.setattr(blas_threads, "_handles", None)
    every = blas_threads._openblas()
    real = ctypes.CDLL
    first = []

    def flaky(path, *a, **k):
        if not first:
            first.append(path)
            raise OSError("cannot load")
        return real(path, *a, **k)
    monkeypatch.setattr(blas_threads, "_handles", None)
    monkeypatch.setattr(blas_threads.ctypes, "CDLL", flaky)
    some = blas_threads._openblas()
    assert first and 0 < len(some) < len(every)
