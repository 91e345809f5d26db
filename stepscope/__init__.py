"""stepscope: where does a batch-1 decode step's time go?

One import namespace over the repository's folders: ``stepscope.profiler`` (profiler/,
the GPU side), ``stepscope.analysis`` (analysis/, the CPU side) and ``stepscope.kernels``
(kernels/, calibration CUDA sources). Installs map them with ``package-dir``
(pyproject.toml); a source checkout on PYTHONPATH finds them beside this folder.

The three folders have no ``__init__.py``: they are namespace portions, so a checkout root
on sys.path (``python -m pytest``, ``python -m stepscope``) can never hide a dependency's
package of the same name (Hugging Face's ``kernels``, say); tests/test_no_shadowing.py.

The public names, imported on first use (``import stepscope`` stays cheap):
``Tracer`` (capture), ``load``, ``Trace``, ``TraceFileError`` (the trace file),
``CaptureError``, ``WorkloadError``.
"""
from importlib import import_module as _import_module
from pathlib import Path as _Path

__version__ = "0.1.0"

_root = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "analysis").is_dir() and (_root / "analysis" / "trace").is_dir():
    __path__.append(str(_root))  # a source checkout: profiler/, analysis/, kernels/ are siblings

_PUBLIC = {"Tracer": "stepscope.profiler.capture", "load": "stepscope.analysis.trace",
           "Trace": "stepscope.analysis.trace", "TraceFileError": "stepscope.analysis.trace",
           "CaptureError": "stepscope.profiler.errors", "WorkloadError": "stepscope.profiler.errors"}


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(_import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'stepscope' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_PUBLIC])
