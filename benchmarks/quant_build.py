"""Build and check the extensions of the two library quant arms on the GPU machine
(benchmarks/quant_build.sh runs it; docs/quant-build.md). Everything goes into
STEPSCOPE_QUANT_EXT (default /tmp/stepscope-quant), where the arms load it from:

    python3 benchmarks/quant_build.py exllamav2   # exllamav2's own JIT build; its .so copied there
    python3 benchmarks/quant_build.py marlin      # gptqmodel 7.7's bf16 Marlin ops, built as its JIT does
    python3 benchmarks/quant_build.py check       # each kernel against x @ dequantised weight, eager
                                                  # and replayed from a CUDA graph; the kernel names

TORCH_CUDA_ARCH_LIST and MAX_JOBS apply to both builds. An extension already in the folder
is not rebuilt. Prints one JSON line of what it did (and the build's own output before it).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stepscope.profiler.workloads import int4_kernels as k4  # noqa: E402
from stepscope.profiler.workloads import int4_layouts as lay  # noqa: E402


def build_info() -> dict:
    import torch
    try:
        nvcc = subprocess.run(["nvcc", "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    except OSError:
        nvcc = "nvcc not on PATH"
    import os
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "nvcc": nvcc, "python": sys.version.split()[0],
            "arch_list": os.environ.get("TORCH_CUDA_ARCH_LIST"), "max_jobs": os.environ.get("MAX_JOBS")}


def build_exllamav2() -> dict:
    """Import exllamav2.ext, which JIT-compiles exllamav2_ext (47 sources) unless it is
    importable; copy the built module into the extension folder."""
    import os
    ext_dir = k4.ext_dir()
    existing = sorted(ext_dir.glob("exllamav2_ext*.so"))
    if existing:
        return {"exllamav2_ext": str(existing[0]), "built": False}
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(ext_dir / "jit"))
    t0 = time.perf_counter()
    from exllamav2 import ext
    so = Path(ext.exllamav2_ext.__file__)
    shutil.copy2(so, ext_dir / so.name)
    return {"exllamav2_ext": str(ext_dir / so.name), "built": True, "build_s": time.perf_counter() - t0,
            "bytes": so.stat().st_size}


def build_marlin() -> dict:
    lib = k4.ext_dir() / f"{k4.MARLIN_LIB}.so"
    if lib.is_file():
        return {"marlin": str(lib), "built": False}
    t0 = time.perf_counter()
    out = k4.build_marlin(k4.ext_dir() / "jit" / "marlin_bf16")
    return {"marlin": str(out), "built": True, "build_s": time.perf_counter() - t0, "bytes": out.stat().st_size}


def check() -> dict:
    """Each arm's layer shapes (Qwen2.5-7B's) against x @ dequantised weight, one graph
    capture and replay, and the kernel names of one batch-1 forward."""
    import torch
    res = {}
    root = k4.gptqmodel_root()
    pu = lay.load_packing_utils(root)
    makers = {"gptq-exllamav2": (torch.float16, lambda lin: k4.GptqExllamaV2Linear(
                  lin, pu, k4.load_exllamav2(), keep_reference=True)),
              "awq-marlin": (torch.bfloat16, lambda lin: k4.AwqMarlinLinear(
                  lin, pu, k4.load_marlin(), k4.uint4_id(root), keep_reference=True))}
    for arm, (dtype, make) in makers.items():
        out = res[arm] = {}
        try:
            mods = []
            for k, n, bias in ((3584, 512, True), (3584, 18944, False), (18944, 3584, False)):
                lin = torch.nn.Linear(k, n, bias=bias, device="cuda", dtype=dtype)
                mods.append(make(lin))
                out[f"{n}x{k}"] = {"rel_err": k4.check(mods[-1], lin.bias)}
            # replayed graph vs eager on the same input (the bias and atomic-add paths too)
            out["graph_rel_diff"] = max(_graph_replay(m, dtype) for m in mods)
            m = mods[0]
        except Exception as e:  # noqa: BLE001 - reported, the other arm still runs
            out["error"] = f"{type(e).__name__}: {str(e)[:500]}"
            continue
        try:   # informative only: torch.profiler beside the carried libcupti
            out["kernels"] = _kernel_names(m, dtype)
        except Exception as e:  # noqa: BLE001
            out["kernels"] = f"torch.profiler failed: {type(e).__name__}: {str(e)[:200]}"
    return res


def _graph_replay(m, dtype) -> float:
    """Capture one forward (batch 1) in a CUDA graph; replay on new input; compare with eager."""
    import torch
    x = torch.randn(1, m.in_features, device="cuda", dtype=dtype)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        m(x)
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        y = m(x)
    x.copy_(torch.randn_like(x))
    g.replay()
    torch.cuda.synchronize()
    ref = m(x)
    return float((y.float() - ref.float()).norm() / ref.float().norm())


def _kernel_names(m, dtype) -> list[str]:
    """The kernels one batch-1 forward launches, by torch.profiler (a separate CUPTI client)."""
    import torch
    x = torch.randn(1, m.in_features, device="cuda", dtype=dtype)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        m(x)
        torch.cuda.synchronize()
    return sorted({e.name[:160] for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA})


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "check"
    k4.ext_dir().mkdir(parents=True, exist_ok=True)
    info = build_info()
    fn = {"exllamav2": build_exllamav2, "marlin": build_marlin, "check": check}[what]
    res = {"what": what, **info, **fn()}
    if what != "check":
        (k4.ext_dir() / f"BUILD-INFO-{what}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res))
    if what == "check":   # non-zero when a kernel failed or missed its reference
        bad = [a for a, r in res.items() if isinstance(r, dict) and ("error" in r or r["graph_rel_diff"] >= k4.CHECK_REL_ERR
               or any(v["rel_err"] >= k4.CHECK_REL_ERR for v in r.values() if isinstance(v, dict)))]
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
