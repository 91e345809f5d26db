"""Which between-step action makes the next traced step stall? (GPU run)

Runs the synthetic step (eager and graph) untraced and under Tracer variants, and
prints the median step window and the longest single API call per variant.
"""
import json
import statistics
import sys
import time

sys.path.insert(0, ".")


def main(out):
    import numpy as np
    import torch

    from stepscope.profiler.capture import Tracer
    from stepscope.profiler.workloads.synthetic import SyntheticStep
    w = SyntheticStep()
    w.eager()
    w.capture()
    torch.cuda.synchronize()
    variants = {
        "pm_off_flush1": dict(dram=False, flush_every=1),
        "pm_off_flush0": dict(dram=False, flush_every=0),
        "pm_on_drain0_flush0": dict(dram=True, drain_every=0, flush_every=0),
        "pm_on_drain1_flush0": dict(dram=True, drain_every=1, flush_every=0),
        "pm_on_drain0_flush1": dict(dram=True, drain_every=0, flush_every=1),
        "pm_on_100us_drain0_flush0": dict(dram=True, dram_interval_ns=100_000, drain_every=0, flush_every=0),
        "nvml_off_pm_off_flush0": dict(dram=False, flush_every=0, nvml=False),
    }
    res = {}
    for mode, fn in (("eager", w.eager), ("graph", w.replay)):
        base = []
        for _ in range(10):
            t0 = time.perf_counter_ns()
            fn()
            torch.cuda.synchronize()
            base.append(time.perf_counter_ns() - t0)
        res[f"{mode}/untraced"] = {"median_ms": statistics.median(base) / 1e6}
        for name, kw in variants.items():
            with Tracer(warn=lambda m: None, **kw) as tr:
                for i in range(10):
                    with tr.step(i, mode=mode):
                        fn()
            t = tr.trace
            win = (t["steps"]["end_ns"] - t["steps"]["start_ns"]) / 1e6
            a = t["api"]
            dur = (a["end_ns"] - a["start_ns"]) / 1e6
            res[f"{mode}/{name}"] = {"median_ms": float(np.median(win)), "max_api_ms": float(dur.max()),
                                     "pm": t.n("pm"), "dram": t.meta["capture"]["dram_status"][:40]}
            print(mode, name, res[f"{mode}/{name}"], flush=True)
    json.dump(res, open(out, "w"), indent=1)
    for k, v in res.items():
        print(f"{k:<36} {v['median_ms']:8.3f} ms  max api {v.get('max_api_ms', 0):8.3f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
