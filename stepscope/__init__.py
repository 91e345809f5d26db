"""stepscope: where does a batch-1 decode step's time go?

One import namespace over the repository's folders: ``stepscope.profiler`` (profiler/,
the GPU side), ``stepscope.analysis`` (analysis/, the CPU side) and ``stepscope.kernels``
(kernels/, calibration CUDA sources). Installs map them with ``package-dir``
(pyproject.toml); a source checkout on PYTHONPATH finds them beside this folder.
"""
from pathlib import Path as _Path

__version__ = "0.1.0"

_root = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "analysis").is_dir() and (_root / "analysis" / "trace").is_dir():
    __path__.append(str(_root))  # a source checkout: profiler/, analysis/, kernels/ are siblings
