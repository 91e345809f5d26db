"""Two libraries' 4-bit GEMV kernels behind nn.Linear replacements, on random weights
quantised at load (int4_layouts: round-to-nearest, group size 128, the libraries' packers):

- ``gptq-exllamav2``: GPTQ weights on ExLlamaV2's kernel (``exllamav2`` 0.3.2).
  ``exllamav2.ext.make_q_matrix`` builds the kernel's matrix handle (it shuffles ``qweight``
  in place); ``gemm_half_q_half`` multiplies. fp16 only, so the arm runs the whole model in
  fp16. Decode kernel: ``gemm_half_q_half_gptq_kernel`` (exllamav2_ext/cuda/q_gemm_kernel_gptq.cuh).
  The handle holds raw pointers to the module's buffers: never move the model afterwards.
- ``awq-marlin``: AWQ weights on the Marlin kernel as gptqmodel 7.7 ships it
  (``gptqmodel_ext/marlin``, vLLM's kernel), built as gptqmodel's JIT builds it (bf16 ops
  only); the library's ``awq_marlin_repack`` op repacks the AWQ weight, ``gptq_marlin_gemm_bf16``
  multiplies, exactly as gptqmodel's ``AwqMarlinLinear``. Kernel: ``marlin::Marlin<__nv_bfloat16, ...>``.

Both extensions are compiled on the GPU machine (benchmarks/quant_build.sh, docs/quant-build.md)
into one folder, ``ext_dir()`` (``STEPSCOPE_QUANT_EXT``, default /tmp/stepscope-quant):
``exllamav2_ext*.so``, ``gptqmodel_marlin_bf16_ops.so`` and the unpacked gptqmodel sdist
(its packers and Marlin sources). Nothing is downloaded or compiled while an arm runs.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import torch

from ..errors import WorkloadError
from . import int4_layouts as lay

#: gptqmodel's own name for the bf16 Marlin extension (TORCH_LIBRARY namespace gptqmodel_marlin_bf16).
MARLIN_LIB = "gptqmodel_marlin_bf16_ops"
MARLIN_NS = "gptqmodel_marlin_bf16"
#: Relative error allowed between a packed layer's kernel output and x @ dequantised weight.
CHECK_REL_ERR = 0.02
#: Linears checked that way before an arm is timed: the first decoder layer's q k v o gate up down.
CHECKED = 7


def ext_dir() -> Path:
    return Path(os.environ.get("STEPSCOPE_QUANT_EXT", "/tmp/stepscope-quant"))


def gptqmodel_root() -> Path:
    """The unpacked gptqmodel sdist in ``ext_dir()`` (the newest), else an installed gptqmodel."""
    found = sorted(p for p in ext_dir().glob("gptqmodel-*") if (p / lay.PACKING_UTILS).is_file())
    if found:
        return found[-1]
    spec = importlib.util.find_spec("gptqmodel")   # finds, does not import
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).parent
    raise WorkloadError(f"no gptqmodel sources in {ext_dir()} (STEPSCOPE_QUANT_EXT): unpack the gptqmodel "
                        "sdist there (benchmarks/quant_build.sh, docs/quant-build.md).")


def uint4_id(root: Path) -> int:
    """Marlin's id of the AWQ weight type (uint4, zero points), from gptqmodel's own
    ``utils/marlin_scalar_type.py`` (standard library only: loaded alone)."""
    spec = importlib.util.spec_from_file_location("stepscope_marlin_scalar_type",
                                                  root / "gptqmodel" / "utils" / "marlin_scalar_type.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.scalar_types.uint4.id


# -- building (on the GPU machine, before any arm runs) ---------------------------------
def marlin_sources(root: Path) -> list[Path]:
    """gptqmodel's bf16 Marlin sources (``_marlin_sources("bf16")``), generating the kernel
    instantiation files with the library's generator first, as its JIT does."""
    src = root / "gptqmodel_ext" / "marlin"
    gen = [sys.executable, str(src / "generate_kernels.py")]
    if subprocess.run(gen + ["--check"], cwd=src, capture_output=True).returncode != 0:
        subprocess.run(gen, cwd=src, check=True)
    kernels = sorted(src.glob("kernel_bf16_*.cu"))
    if not kernels:
        raise WorkloadError(f"Marlin kernel generation left no kernel_bf16_*.cu in {src}")
    return [src / "marlin_torch_bf16.cpp", src / "gptq_marlin_bf16.cu", src / "gptq_marlin_repack.cu",
            src / "awq_marlin_repack.cu", *kernels]


def marlin_flags() -> tuple[list[str], list[str]]:
    """(C++ flags, nvcc flags) of gptqmodel 7.7's Marlin JIT (utils/marlin.py, utils/cpp.py)."""
    major, minor = (int(x) for x in torch.__version__.split(".")[:2])
    cxx = ["-O3", f"-std={'c++20' if (major, minor) >= (2, 14) else 'c++17'}", "-DENABLE_BF16",
           f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}"]
    nvcc = ["-static-global-template-stub=false", *cxx, "--threads", os.environ.get("NVCC_THREADS", "8"),
            "--optimize=3", "-Xptxas", "-O3,-dlcm=ca", "-lineinfo", "-Xfatbin", "-compress-all",
            "-diag-suppress=179,39,177"]
    return cxx, nvcc


def build_marlin(build_dir: Path, verbose: bool = True) -> Path:
    """Compile the bf16 Marlin ops with torch's JIT (TORCH_CUDA_ARCH_LIST, MAX_JOBS apply)
    into ``build_dir``; returns the library, also copied into ``ext_dir()``."""
    import shutil

    from torch.utils.cpp_extension import load
    root = gptqmodel_root()
    cxx, nvcc = marlin_flags()
    build_dir.mkdir(parents=True, exist_ok=True)
    load(name=MARLIN_LIB, sources=[str(s) for s in marlin_sources(root)], build_directory=str(build_dir),
         is_python_module=False, extra_cflags=cxx, extra_cuda_cflags=nvcc,
         extra_include_paths=[str(root / "gptqmodel_ext" / "marlin")], verbose=verbose)
    out = ext_dir() / f"{MARLIN_LIB}.so"
    shutil.copy2(build_dir / f"{MARLIN_LIB}.so", out)
    return out


# -- loading ----------------------------------------------------------------------------
def load_marlin():
    """The Marlin ops (torch.ops.gptqmodel_marlin_bf16), loading the built library once."""
    if not hasattr(getattr(torch.ops, MARLIN_NS), "gptq_marlin_gemm_bf16"):
        lib = ext_dir() / f"{MARLIN_LIB}.so"
        if not lib.is_file():
            raise WorkloadError(f"no {lib.name} in {ext_dir()} (STEPSCOPE_QUANT_EXT): build it with "
                                "benchmarks/quant_build.sh (docs/quant-build.md).")
        torch.ops.load_library(str(lib))
    return getattr(torch.ops, MARLIN_NS)


def load_exllamav2():
    """``exllamav2.ext`` with its extension prebuilt in ``ext_dir()`` (never its JIT here)."""
    where = str(ext_dir())
    if where not in sys.path:
        sys.path.insert(0, where)
    if importlib.util.find_spec("exllamav2") is None:
        raise WorkloadError("exllamav2 is not installed: install the exllamav2 0.3.2 wheel (docs/quant-build.md).")
    if importlib.util.find_spec("exllamav2_ext") is None:
        raise WorkloadError(f"no exllamav2_ext in {where} (STEPSCOPE_QUANT_EXT): build it with "
                            "benchmarks/quant_build.sh (docs/quant-build.md).")
    from exllamav2 import ext
    return ext


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


# -- the modules --------------------------------------------------------------------------
class GptqExllamaV2Linear(torch.nn.Module):
    """An nn.Linear as GPTQ weights (symmetric, group 128, no act-order) multiplied by
    ExLlamaV2's ``gemm_half_q_half``; fp16 in and out."""

    def __init__(self, linear: torch.nn.Linear, pu, ext, keep_reference: bool = False):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        codes, zeros, scales = lay.rtn_quantize(linear.weight.half(), symmetric=True)
        qweight, qzeros = lay.pack_gptq(pu, codes, zeros)
        self.register_buffer("qweight", qweight.contiguous())
        self.register_buffer("qzeros", qzeros.contiguous())
        self.register_buffer("scales", scales.contiguous())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().half().contiguous())
        tensors = {"qweight": self.qweight, "qzeros": self.qzeros, "scales": self.scales}
        if self.bias is not None:
            tensors["bias"] = self.bias
        # max_dq_rows 0: every size, prefill too, runs the quantised kernel (no fp16 scratch copy).
        self.handle = ext.make_q_matrix(tensors, ext.none_tensor, max_dq_rows=0)
        self._gemm = ext.ext_c.gemm_half_q_half
        self.reference = (codes, zeros, scales) if keep_reference else None

    def forward(self, x):
        x2 = x.reshape(-1, self.in_features)
        out = torch.empty(x2.shape[0], self.out_features, dtype=torch.half, device=x.device)
        self._gemm(x2, self.handle, out, False)
        return out.view(*x.shape[:-1], self.out_features)


class AwqMarlinLinear(torch.nn.Module):
    """An nn.Linear as AWQ weights (asymmetric, group 128) repacked for and multiplied by
    Marlin, as gptqmodel's ``AwqMarlinLinear`` does; bf16 in and out."""

    def __init__(self, linear: torch.nn.Linear, pu, ops, uint4_id: int, keep_reference: bool = False):
        super().__init__()
        k, n = self.in_features, self.out_features = linear.in_features, linear.out_features
        dev = linear.weight.device
        codes, zeros, scales = lay.rtn_quantize(linear.weight)
        qweight, qzeros = lay.pack_awq(pu, codes, zeros)
        self.register_buffer("qweight", ops.awq_marlin_repack(qweight.contiguous(), k, n, lay.BITS))
        self.register_buffer("scales", lay.marlin_permute_scales(scales, k, n, lay.GROUP_SIZE))
        self.register_buffer("qzeros", lay.awq_to_marlin_zero_points(qzeros, k // lay.GROUP_SIZE, n))
        self.register_buffer("bias", None if linear.bias is None else lay.marlin_permute_bias(linear.bias.detach()))
        sms = torch.cuda.get_device_properties(dev).multi_processor_count
        self.register_buffer("workspace", torch.zeros(max(sms, 128), dtype=torch.int32, device=dev))
        self.register_buffer("g_idx", torch.empty(0, dtype=torch.int32, device=dev))
        self.register_buffer("perm", torch.empty(0, dtype=torch.int32, device=dev))
        self.type_id = uint4_id
        # gptqmodel's should_use_atomic_add_reduce (bf16): atomic adds for narrow, deep layers on sm90+.
        self.atomic_add = n < 2048 and k >= 2048 and torch.cuda.get_device_capability(dev)[0] >= 9
        self._gemm = ops.gptq_marlin_gemm_bf16
        self.reference = (codes, zeros, scales) if keep_reference else None

    def forward(self, x):
        x2 = x.reshape(-1, self.in_features)
        out = self._gemm(x2, None, self.qweight, self.bias, self.scales, None, self.qzeros, self.g_idx,
                         self.perm, self.workspace, self.type_id, x2.shape[0], self.out_features,
                         self.in_features, True, self.atomic_add, True, False)
        return out.view(*x.shape[:-1], self.out_features)


@torch.no_grad()
def check(module, bias, rows: int = 3) -> float:
    """Relative error of ``module`` on random inputs against x @ its dequantised weight (+ bias)."""
    codes, zeros, scales = module.reference
    bias = None if bias is None else bias.detach()
    x = torch.randn(rows, module.in_features, device=scales.device, dtype=scales.dtype)
    ref = x.float() @ lay.dequantize(codes, zeros, scales).float()
    if bias is not None:
        ref += bias.float()
    got = module(x).float()
    return float((got - ref).norm() / ref.norm())


def replace_linears(model, make) -> list:
    """Replace every nn.Linear but ``lm_head`` with ``make(linear, first)`` (``first``: it is
    among the first layer's, which are checked); returns the checked (module, bias) pairs."""
    checked = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear) and name != "lm_head":
                first = len(checked) < CHECKED
                new = make(child, first)
                if first:
                    checked.append((new, child.bias))
                setattr(parent, name, new)
    return checked


def _verify(checked, arm: str) -> float:
    errs = [check(m, b) for m, b in checked]
    for m, _ in checked:
        m.reference = None
    worst = max(errs)
    if not worst < CHECK_REL_ERR:
        raise WorkloadError(f"{arm}: the kernel's output differs from x @ dequantised weight by {worst:.3g} "
                            f"(relative; allowed {CHECK_REL_ERR}): the packed layout is wrong.")
    return worst


def quantize_gptq_exllamav2(model) -> str:
    """Convert the model to fp16 and every Linear but lm_head to GPTQ on ExLlamaV2."""
    ext = load_exllamav2()
    root = gptqmodel_root()
    pu = lay.load_packing_utils(root)
    model.half()
    checked = replace_linears(model, lambda lin, first: GptqExllamaV2Linear(lin, pu, ext, first))
    worst = _verify(checked, "gptq-exllamav2")
    return (f"exllamav2 {_version('exllamav2')} (GPTQ g128 sym, fp16), packed by {root.name} pack_exllama; "
            f"check rel err {worst:.1e}")


def quantize_awq_marlin(model) -> str:
    """Every Linear but lm_head to AWQ on Marlin (bf16)."""
    ops = load_marlin()
    root = gptqmodel_root()
    pu = lay.load_packing_utils(root)
    type_id = uint4_id(root)
    checked = replace_linears(model, lambda lin, first: AwqMarlinLinear(lin, pu, ops, type_id, first))
    worst = _verify(checked, "awq-marlin")
    return (f"gptqmodel {root.name.split('-')[-1]} Marlin (AWQ g128 zero-point, bf16), packed by pack_awq; "
            f"check rel err {worst:.1e}")
