"""`stepscope calibrate`: the GPU's own launch and bandwidth limits, and the ground-truth
chain (profiler/workloads/calibration.py), in one result."""
from __future__ import annotations

import time

from ..workloads.calibration import BANDWIDTH_KERNELS, LAUNCH_SIZES


def stage_count(chain: bool = False) -> int:
    """Stages ``run`` announces: one per launch size, the traced gaps, one per bandwidth
    kernel, and the chain when asked for."""
    return len(LAUNCH_SIZES) + 1 + len(BANDWIDTH_KERNELS) + int(chain)


def run(device: int = 0, chain_out=None, stage=None) -> dict:
    """``stage(name)`` is called as each stage begins (``stage_count`` of them)."""
    import torch

    from ..capture.nvml import Nvml
    from ..workloads.calibration import Calibration
    begin = stage or (lambda name: None)
    cal = Calibration(device)
    nv = Nvml(device)
    gpu = nv.describe()
    res = {"gpu": gpu, "sms": cal.sms, "torch": torch.__version__,
           "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    res["launch"] = cal.launch_costs(stage=begin)
    begin("traced gaps")
    res["traced_gaps"] = cal.traced_gaps()
    res["bandwidth"] = cal.bandwidth(stage=begin)
    peak = gpu.get("peak_bytes_per_s")
    if peak:
        for key in ("read", "copy", "torch_copy"):
            res["bandwidth"][f"{key}_fraction_of_peak"] = res["bandwidth"][f"{key}_bytes_per_s"] / peak
    res["achievable_bytes_per_s"] = max(res["bandwidth"]["read_bytes_per_s"],
                                        res["bandwidth"]["copy_bytes_per_s"])
    res["clocks_after"] = nv.sample()
    if chain_out:
        begin("ground-truth chain")
        t = cal.chain()
        t.meta["calibration"] = {"launch": res["launch"], "traced_gaps": res["traced_gaps"]}
        t.save(chain_out)
        res["chain_trace"] = str(chain_out)
    nv.close()
    return res
