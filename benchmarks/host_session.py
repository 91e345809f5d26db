"""GPU session for the host side (issues #14, #16): re-record the Qwen2.5-7B traces with
host capture, background NVML and self-measured perturbation; the eager dynamic-cache gap
A/B (cuDNN SDPA on vs off); the cost of each capture part. Run on the GPU machine as

    python3 benchmarks/host_session.py --out $OUT --tag h100 [--stages ...]

Writes traces and JSON under --out and prints a short table last. Each stage is
independent: a failure is logged with its traceback and the next runs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

from stages import ROWS, stage  # noqa: E402 - benchmarks/ is the script's folder

_BUILT: dict = {}


def built(model):
    """(spec, net), built once per process."""
    if model not in _BUILT:
        from stepscope.profiler.workloads.decode import build_model, resolve_model
        spec = resolve_model(model)
        _BUILT[model] = (spec, build_model(spec))
    return _BUILT[model]




@stage
def costs(out):
    """Unit costs: NVML calls, CUPTI's clock, a module hook."""
    from cupti import cupti

    from stepscope.profiler.capture.nvml import Nvml
    nv = Nvml(0)
    res = {}
    for name, fn in (("nvml_quick", nv.quick), ("nvml_energy", nv.energy_mj), ("cupti_get_timestamp", cupti.get_timestamp),
                     ("time_ns", time.time_ns)):
        n = 20 if name == "nvml_energy" else 2000
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        res[f"{name}_ns"] = (time.perf_counter_ns() - t0) / n
    res["cupti_minus_time_ns"] = statistics.median([cupti.get_timestamp() - time.time_ns() for _ in range(101)])
    nv.close()
    print("costs", json.dumps(res))
    (out / "unit_costs.json").write_text(json.dumps(res, indent=1))
    ROWS.append("  " + ", ".join(f"{k} {v:.0f}" for k, v in res.items()))


def summary_row(trace, label):
    from stepscope.analysis.facade import TraceAnalysis
    a = TraceAnalysis(trace)
    s = next(iter(a.get_summary()["modes"].values()))
    p = trace.meta.get("perturbation", {})
    h = a.get_host()
    ps = h["per_step"]
    return (f"  {label:<26} untraced {statistics.median(trace.meta['workload']['untraced_step_ns']) / 1e6:7.2f} ms "
            f"traced {s['step_ms']:7.2f} launch {s['launch_overhead_ms']:6.2f} pert {p.get('pct', float('nan')):+5.1f}% "
            f"{p.get('ci95_pct')} out-of-window {p.get('step_call_outside_window_ns', -1) / 1e3:.1f} us | "
            f"launch API {statistics.median(ps['launch_api_ns_per_launch']) / 1e3:.2f} us/launch, "
            f"fw {statistics.median(ps['framework_ns_per_launch']) / 1e3:.2f} us/launch | {h['verdict'][:150]} | "
            f"api {trace.n('api')} spans {trace.n('host_spans')} pm {trace.n('pm')} {trace.meta['capture']['dram_status'][:50]}")


@stage
def decode(out, tag, model, ctx, rounds, trace_steps, arms, steps=30):
    import torch

    from stepscope.profiler.experiments.protocol import run_decode
    spec, net = built(model)
    torch.cuda.synchronize()
    res = {}
    for arm in arms:
        mode, _, backend = arm.partition(":")   # mode[:backend][+ops][+spans][+serial][+graphlevel]
        ops, spans = "+ops" in backend, "+spans" in backend or "+ops" in backend
        serial, glevel = "+serial" in backend, "+graphlevel" in backend
        backend = backend.replace("+ops", "").replace("+spans", "").replace("+serial", "") \
            .replace("+graphlevel", "") or "default"
        try:
            trace, info = run_decode(model, ctx, mode, trace_steps=trace_steps, built=(spec, net), rounds=rounds,
                                     sdpa_backend=backend, host_ops=ops, host_spans=spans,
                                     steps=steps, kernel_records="serial" if serial else "graph" if glevel else "concurrent")
            name = f"{model}-ctx{ctx}-{mode}" + ("" if backend == "default" else f"-sdpa-{backend}") + \
                ("-ops" if ops else "-spans" if spans else "") + ("-serial" if serial else "") + \
                ("-graphlevel" if glevel else "") + f"-r{rounds}-{tag}.stepscope"
            trace.save(out / name)
            res[arm] = {"file": name, "untraced_ns": trace.meta["workload"]["untraced_step_ns"],
                        "perturbation": trace.meta["perturbation"], "capture": trace.meta["capture"]}
            ROWS.append(summary_row(trace, arm))
            print(ROWS[-1], flush=True)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            ROWS.append(f"  {arm} FAILED")
    (out / f"decode-{tag}.json").write_text(json.dumps(res, indent=1))


@stage
def graph_launch(out, tag, model, ctx):
    """Host duration of cudaGraphLaunch (replay() without sync) untraced vs traced."""
    import torch

    from stepscope.profiler.capture import Tracer
    from stepscope.profiler.workloads.decode import Decoder
    _, net = built(model)
    dec = Decoder(net, ctx, "graph", 200)
    dec.prefill()
    dec.capture()
    res = {}

    def replay_host(n):
        xs = []
        for _ in range(n):
            torch.cuda.synchronize()
            t0 = time.perf_counter_ns()
            dec.step()
            xs.append(time.perf_counter_ns() - t0)
        torch.cuda.synchronize()
        return statistics.median(xs) / 1e3
    res["untraced_replay_call_us"] = replay_host(20)
    for label, kw in (("traced_full", {}), ("traced_no_api", {"apis": "launch", "host_spans": False}),
                      ("traced_no_dram", {"dram": False})):
        with Tracer(warn=lambda m: None, **kw):
            dec.step()
            res[f"{label}_replay_call_us"] = replay_host(20)
    print("graph launch", res)
    (out / f"graph_launch-{tag}.json").write_text(json.dumps(res, indent=1))
    ROWS.append("  " + ", ".join(f"{k} {v:.0f}" for k, v in res.items()))


#: Capture parts: the first five add one part each to the previous (the fifth is the default
#: tracer); then the default plus module spans (opt-in), and three probes of what per-kernel
#: records cost (kernel records only, as "kernels", recorded differently: see
#: profiler/capture/activity.KERNEL_RECORDS; graph_level only in graph mode, where it still
#: times the step).
PARTS = {
    "kernels": dict(apis="none", host_spans=False, dram=False, nvml=False),
    "+launch_api": dict(apis="launch", host_spans=False, dram=False, nvml=False),
    "+host_api": dict(apis="host", host_spans=False, dram=False, nvml=False),
    "+pm_sampling": dict(apis="host", host_spans=False, dram=True, nvml=False),
    "+nvml_sampler": dict(apis="host", host_spans=False, dram=True, nvml=True),
    "default+module_spans": dict(apis="host", host_spans=True, dram=True, nvml=True),
    "kernels_serial": dict(apis="none", host_spans=False, dram=False, nvml=False, kernel_records="serial"),
    "kernels_hw_trace": dict(apis="none", host_spans=False, dram=False, nvml=False, kernel_records="hw"),
    "graph_level": dict(apis="none", host_spans=False, dram=False, nvml=False, kernel_records="graph"),
}


def parts_of(mode: str) -> dict:
    return {k: v for k, v in PARTS.items() if mode == "graph" or k != "graph_level"}


@stage
def parts(out, tag, model, ctx, rounds, block, modes):
    """Cost of each capture part per step: interleaved blocks, one process, per mode."""
    import torch
    sys.path.insert(0, str(Path(__file__).parent))
    from overhead import interleaved, summarize, tracer_arm

    from stepscope.profiler.capture import Tracer
    from stepscope.profiler.workloads.decode import Decoder
    _, net = built(model)
    res = {"model": model, "ctx": ctx, "rounds": rounds, "block": block, "parts": PARTS, "modes": {}}
    with Tracer(warn=lambda m: None, modules=net, kernel_records="hw") as tr:   # PM sampling next to each API set
        pass
    res["pm_status_default"] = tr.trace.meta["capture"]["dram_status"]
    res["hw_trace_status"] = tr.trace.meta["capture"].get("hw_trace")
    for mode in modes:
        mine = parts_of(mode)
        dec = Decoder(net, ctx, mode, 50 + rounds * block * (len(mine) + 1) * 2)
        dec.prefill()
        dec.capture()
        for _ in range(5):
            dec.step()
        windows = {name: [] for name in mine}
        arms = {"untraced": None}
        for name, kw in mine.items():
            arms[name] = tracer_arm(windows[name], modules=net, **kw)
        times = interleaved(dec.step, torch.cuda.synchronize, arms, rounds, block)
        for name in mine:
            times[f"{name}_window"] = windows[name]
        summ = summarize(times)
        res["modes"][mode] = {"summary": summ, "step_ns": times}
        line = ", ".join(f"{k.removesuffix('_window')} {v['overhead_pct']:+.1f}%" for k, v in summ.items()
                         if k.endswith("_window"))
        ROWS.append(f"  parts {mode:<12} untraced {summ['untraced']['median_ms']:.2f} ms: {line}")
        print(ROWS[-1], flush=True)
        del dec
    (out / f"capture_parts-{tag}.json").write_text(json.dumps(res, indent=1))


@stage
def spin(out, tag, calls=10, steps=4):
    """Known busy-waits in known modules: the host split must recover each module's spin."""
    import numpy as np
    import torch

    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.analysis.trace import workload
    from stepscope.profiler.capture import Tracer
    from stepscope.profiler.workloads.host_spin import SPINS_US, build
    model, x = build()

    def step():
        for _ in range(calls):
            model(x)
    step()
    torch.cuda.synchronize()
    with Tracer(warn=lambda m: None, modules=model, host_spans=True) as tr:
        for i in range(steps):
            with tr.step(i, mode="spin"):
                step()
    t = tr.trace
    t.meta["workload"] = workload.constructed("host_spin", 0, f"{calls} calls a step of modules spinning "
                                              f"{dict(SPINS_US)} us, each then launching one tiny kernel",
                                              spins_us=dict(SPINS_US), calls_per_step=calls)
    t.save(out / f"host-spin-{tag}.stepscope")
    hot = TraceAnalysis(t).get_host(50)["hotspots"]
    got = {n: ns for w, n, ns in zip(hot["what"], hot["name"], hot["ns_per_step"]) if w == "module"}
    res = {p: {"known_ns_per_step": us * 1000 * calls, "recovered_ns_per_step": got.get(p, 0.0)} for p, us in SPINS_US.items()}
    for r in res.values():
        r["error_pct"] = 100 * (r["recovered_ns_per_step"] / r["known_ns_per_step"] - 1)
    (out / f"host_spin-{tag}.json").write_text(json.dumps(res, indent=1))
    ROWS.append("  spin " + ", ".join(f"{p} {r['error_pct']:+.1f}%" for p, r in res.items()))
    assert np.isfinite([r["error_pct"] for r in res.values()]).all()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tag", default="h100")
    ap.add_argument("--stages", default="decode,spin,parts,graph_launch,costs")
    ap.add_argument("--model", default="qwen2.5-7b")
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trace-steps", type=int, default=2)
    ap.add_argument("--arms", default="eager,eager-static,graph",
                    help="decode stage: mode[:sdpa backend][+spans][+ops][+serial][+graphlevel], comma-separated")
    ap.add_argument("--steps", type=int, default=30, help="decode stage: untraced steps over all rounds")
    ap.add_argument("--block", type=int, default=8)
    ap.add_argument("--part-modes", default="eager,eager-static,graph")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    st = a.stages.split(",")
    if "decode" in st:
        decode(out, a.tag, a.model, a.ctx, a.rounds, a.trace_steps, a.arms.split(","), a.steps)
    if "spin" in st:
        spin(out, a.tag)
    if "parts" in st:
        parts(out, a.tag, a.model, a.ctx, a.rounds, a.block, a.part_modes.split(","))
    if "graph_launch" in st:
        graph_launch(out, a.tag, a.model, a.ctx)
    if "costs" in st:   # last: calling cupti.get_timestamp before a Tracer starts breaks it (seen on an H100)
        costs(out)
    print("\n".join(ROWS))


if __name__ == "__main__":
    sys.exit(main())
