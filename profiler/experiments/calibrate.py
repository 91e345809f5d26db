"""`stepscope calibrate`: the GPU's own launch and bandwidth limits, and the ground-truth
chain (profiler/workloads/calibration.py), in one result."""
from __future__ import annotations

import time


def run(device: int = 0, chain_out=None) -> dict:
    import torch

    from ..capture.nvml import Nvml
    from ..workloads.calibration import Calibration
    cal = Calibration(device)
    nv = Nvml(device)
    gpu = nv.describe()
    res = {"gpu": gpu, "sms": cal.sms, "torch": torch.__version__,
           "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    res["launch"] = cal.launch_costs()
    res["traced_gaps"] = cal.traced_gaps()
    res["bandwidth"] = cal.bandwidth()
    peak = gpu.get("peak_bytes_per_s")
    if peak:
        for key in ("read", "copy", "torch_copy"):
            res["bandwidth"][f"{key}_fraction_of_peak"] = res["bandwidth"][f"{key}_bytes_per_s"] / peak
    res["achievable_bytes_per_s"] = max(res["bandwidth"]["read_bytes_per_s"],
                                        res["bandwidth"]["copy_bytes_per_s"])
    res["clocks_after"] = nv.sample()
    if chain_out:
        t = cal.chain()
        t.meta["calibration"] = {"launch": res["launch"], "traced_gaps": res["traced_gaps"]}
        t.save(chain_out)
        res["chain_trace"] = str(chain_out)
    nv.close()
    return res
