"""Issue 28 on the GPU: what makes a traced step faster or slower than an untraced one.

Controlled A/Bs in one process, on one built model, each arm changing one thing, the arms
interleaved round by round (their order rotated each round, so drift hits all alike):

* graph mode (a CUDA-graph replay per step, the graph instantiated so that CUPTI can give
  graph-level records):
  - ``untraced-cold``: after an idle gap, timed steps at once (the protocol before issue 28:
    the untraced block starts straight after the previous tracer's stop);
  - ``untraced``: the same after one untimed step (what the traced block always had);
  - ``untraced+spacing``: and a host spin between steps as long as the traced steps'
    outside-window work;
  - ``untraced+busy-host``: and a busy process spinning on another core (no CUPTI);
  - ``untraced+nvml-poll``: and the tracer's NVML sampler thread alone (no CUPTI);
  - ``traced-graph``: a Tracer with graph-level records (what the issue measured -5%);
  - ``traced-graph-bare``: graph-level records only (no API records, PM, NVML);
  - ``traced-graph+api`` / ``+pm`` / ``+nvml``: graph-level records and one more part;
  - ``traced-kernel``: a Tracer with per-kernel records (the default).
* ``graph-inst`` (``--parts graph-inst``): two graphs of the same step in one process, one
  instantiated under CUPTI's GRAPH_TRACE kind (what graph-level records need), one plainly;
  each replayed untraced, with graph-level records and with per-kernel records (no API
  records, PM, NVML): does the instantiation or the enabled kind change the replay?
* eager-static mode: the capture parts added one at a time (``kernels`` ... ``default``), plus
  ``default-launch-apis`` (launch API records only) and ``kernels+nvml``.

Each block: an idle gap (``--idle-ms``), one untimed step, ``--block`` timed steps. Per step:
the window (perf_counter, launch to device idle; for traced arms also the tracer's own
window), NVML SM and memory clocks read after the step, and the host CPU's current frequency
(outside the window). Writes ``perturbation_ab.json`` and prints a table.

Run on the GPU machine:  python3 benchmarks/perturbation_ab.py -o $OUT/ab
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def cpu_now() -> tuple[int, int]:
    """(cpu this thread last ran on, its current frequency in kHz, or -1)."""
    try:
        cpu = int(Path("/proc/thread-self/stat").read_text().rsplit(")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return -1, -1
    for p in (f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq",
              f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_cur_freq"):
        try:
            return cpu, int(Path(p).read_text())
        except (OSError, ValueError):
            pass
    try:   # /proc/cpuinfo's "cpu MHz" of that processor
        blocks = Path("/proc/cpuinfo").read_text().split("\n\n")
        for b in blocks:
            f = dict(line.split(":", 1) for line in b.splitlines() if ":" in line)
            if int(f.get("processor\t", f.get("processor", -2))) == cpu:
                return cpu, int(float(f.get("cpu MHz\t\t", f.get("cpu MHz", "-0.001"))) * 1000)
    except (OSError, ValueError):
        pass
    return cpu, -1


class Clocks:
    def __init__(self):
        import pynvml as nv
        nv.nvmlInit()
        self.nv, self.h = nv, nv.nvmlDeviceGetHandleByIndex(0)

    def read(self) -> tuple[int, int, int]:
        nv, h = self.nv, self.h
        reasons = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            nv.nvmlDeviceGetCurrentClocksThrottleReasons
        return (nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM), nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM),
                int(reasons(h)))


def run_block(name, dec_step, sync, block, idle_ms, clocks, extra=None):
    """One block; returns per-step rows. ``extra``: a context-manager factory giving a
    ``step(fn)`` wrapper (traced arms) or None, plus the spacing in ns."""
    from stepscope.profiler.workloads.host_spin import spin_ns
    kind, arg = extra if extra else (None, None)
    rows = []
    busy = None
    poll = None
    if kind == "busy":
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    if kind == "nvml-poll":
        from stepscope.profiler.capture.nvml import Nvml, NvmlSampler
        poll = NvmlSampler(Nvml(0), time.time_ns, 10_000_000)
        poll.start()
    try:
        time.sleep(idle_ms / 1e3)
        if kind == "tracer":
            from stepscope.profiler.capture import Tracer
            tr = Tracer(warn=lambda m: None, **arg)
            tr.start()
        if kind != "cold":
            dec_step()
            sync()
        for i in range(block):
            if kind == "spacing":
                spin_ns(arg)
            t0 = time.perf_counter_ns()
            if kind == "tracer":
                with tr.step(i):
                    dec_step()
            else:
                dec_step()
                sync()
            ns = time.perf_counter_ns() - t0
            sm, mem, reasons = clocks.read()
            cpu, khz = cpu_now()
            rows.append({"arm": name, "pos": i, "ns": ns, "sm_mhz": sm, "mem_mhz": mem,
                         "clock_reasons": reasons, "cpu": cpu, "cpu_khz": khz})
        if kind == "tracer":
            tr.stop()
            st = tr.trace["steps"]
            kern = tr.trace["kernels"]
            for r, s, e in zip(rows, st["start_ns"].tolist(), st["end_ns"].tolist()):
                r["window_ns"] = e - s
                r["kernels"] = int(((kern["start_ns"] >= s) & (kern["start_ns"] < e)).sum())
            cap = tr.trace.meta["capture"]
            rows[0]["dropped_records"] = cap.get("dropped_records")
            rows[0]["dram_status"] = cap.get("dram_status")
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
        if poll is not None:
            poll.stop()
    return rows


GRAPH_ARMS = {
    "untraced-cold": ("cold", None),
    "untraced": None,
    "untraced+spacing": ("spacing", 45_000),
    "untraced+busy-host": ("busy", None),
    "untraced+nvml-poll": ("nvml-poll", None),
    "traced-graph": ("tracer", dict(kernel_records="graph")),
    "traced-graph-bare": ("tracer", dict(kernel_records="graph", apis="none", dram=False, nvml=False)),
    "traced-graph+api": ("tracer", dict(kernel_records="graph", apis="host", dram=False, nvml=False)),
    "traced-graph+pm": ("tracer", dict(kernel_records="graph", apis="none", dram=True, nvml=False)),
    "traced-graph+nvml": ("tracer", dict(kernel_records="graph", apis="none", dram=False, nvml=True)),
    "traced-kernel": ("tracer", dict()),
}
#: The graph-instantiation A/B: two graphs of the same step in one process, one
#: instantiated under graph_trace_instantiation (``i``), one plainly (``p``).
BARE = dict(apis="none", dram=False, nvml=False)
INST_ARMS = {
    "untraced": ("i", None),
    "untraced-plain-graph": ("p", None),
    "traced-graph": ("i", ("tracer", dict(kernel_records="graph", **BARE))),
    "graph-kind-on-plain-graph": ("p", ("tracer", dict(kernel_records="graph", **BARE))),
    "traced-kernel-bare": ("i", ("tracer", dict(**BARE))),
    "traced-kernel-bare-plain-graph": ("p", ("tracer", dict(**BARE))),
}
STATIC_ARMS = {
    "untraced": None,
    "kernels": ("tracer", dict(apis="none", dram=False, nvml=False)),
    "+launch_api": ("tracer", dict(apis="launch", dram=False, nvml=False)),
    "+host_api": ("tracer", dict(apis="host", dram=False, nvml=False)),
    "+pm_sampling": ("tracer", dict(apis="host", dram=True, nvml=False)),
    "default": ("tracer", dict()),
    "default-launch-apis": ("tracer", dict(apis="launch")),
    "kernels+nvml": ("tracer", dict(apis="none", dram=False, nvml=True)),
    "untraced+nvml-poll": ("nvml-poll", None),
}


def summarize(rows, arms, rounds, base="untraced"):
    import numpy as np
    from scipy.stats import bootstrap
    out = {}
    by = {a: [r for r in rows if r["arm"] == a] for a in arms}
    med = {a: statistics.median(r["ns"] for r in by[a]) for a in arms}
    for a in arms:
        rr = by[a]
        ratios = []
        for k in range(rounds):
            mine = [r["ns"] for r in rr if r["round"] == k]
            theirs = [r["ns"] for r in by[base] if r["round"] == k]
            if mine and theirs:
                ratios.append(statistics.median(mine) / statistics.median(theirs))
        ci = None
        if len(ratios) >= 3 and a != base:
            res = bootstrap((np.array(ratios),), np.median, confidence_level=0.95, method="percentile",
                            n_resamples=4000, random_state=0)
            ci = [100 * (res.confidence_interval.low - 1), 100 * (res.confidence_interval.high - 1)]
        out[a] = {"median_ms": med[a] / 1e6, "pct_vs_untraced": 100 * (med[a] / med[base] - 1),
                  "ci95_pct": ci, "n": len(rr),
                  "by_position_ms": [statistics.median(r["ns"] for r in rr if r["pos"] == p) / 1e6
                                     for p in sorted({r["pos"] for r in rr})],
                  "sm_mhz_median": statistics.median(r["sm_mhz"] for r in rr),
                  "mem_mhz_median": statistics.median(r["mem_mhz"] for r in rr),
                  "cpu_khz_median": statistics.median(r["cpu_khz"] for r in rr),
                  "cpus": sorted({r["cpu"] for r in rr})}
        if rr and "window_ns" in rr[0]:
            out[a]["window_median_ms"] = statistics.median(r["window_ns"] for r in rr) / 1e6
            out[a]["kernels_per_step"] = statistics.median(r["kernels"] for r in rr)
            out[a]["dropped_records"] = [r.get("dropped_records") for r in rr if "dropped_records" in r]
    return out


def run_arms(arms, step, sync, rounds, block, idle_ms, clocks, say):
    """``step``: one step function, or a dict arm -> step function."""
    rows = []
    names = list(arms)
    for k in range(rounds):
        order = names[k % len(names):] + names[:k % len(names)]
        for a in order:
            fn = step[a] if isinstance(step, dict) else step
            for r in run_block(a, fn, sync, block, idle_ms, clocks, arms[a]):
                r["round"] = k
                rows.append(r)
        say(f"round {k + 1}/{rounds} done")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-7b")
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--static-block", type=int, default=3)
    ap.add_argument("--idle-ms", type=float, default=200.0)
    ap.add_argument("--parts", default="graph,eager-static")
    ap.add_argument("--tag", default="", help="suffix of the result file's name")
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args(argv)
    import torch

    from stepscope.profiler.capture.activity import graph_trace_instantiation
    from stepscope.profiler.workloads.decode import Decoder, build_model, resolve_model
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    def say(m):
        print(f"[{time.time() - t0:6.1f}s] {m}", flush=True)
    spec = resolve_model(a.model)
    net = build_model(spec, device="cuda")
    say("built")
    clocks = Clocks()
    res = {"model": spec.name, "ctx": a.ctx, "rounds": a.rounds, "idle_ms": a.idle_ms,
           "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "host_cpus": os.cpu_count(), "affinity": sorted(os.sched_getaffinity(0)), "parts": {}}
    n = a.rounds * (len(GRAPH_ARMS) + len(STATIC_ARMS)) * (max(a.block, a.static_block) + 1) + 20
    if "graph" in a.parts.split(","):
        dec = Decoder(net, a.ctx, "graph", n)
        dec.prefill()
        with graph_trace_instantiation():
            dec.capture()
        for _ in range(5):
            dec.step()
        torch.cuda.synchronize()
        rows = run_arms(GRAPH_ARMS, dec.step, torch.cuda.synchronize, a.rounds, a.block, a.idle_ms, clocks, say)
        res["parts"]["graph"] = {"block": a.block, "arms": {k: (v[0] if v else "plain") for k, v in GRAPH_ARMS.items()},
                                 "summary": summarize(rows, GRAPH_ARMS, a.rounds), "rows": rows}
        del dec
        torch.cuda.empty_cache()
        say("graph done")
    if "graph-inst" in a.parts.split(","):
        decs = {}
        for key in ("i", "p"):
            decs[key] = Decoder(net, a.ctx, "graph", n)
            decs[key].prefill()
            if key == "i":
                with graph_trace_instantiation():
                    decs[key].capture()
            else:
                decs[key].capture()
            for _ in range(5):
                decs[key].step()
        torch.cuda.synchronize()
        arms = {k: v[1] for k, v in INST_ARMS.items()}
        steps = {k: decs[v[0]].step for k, v in INST_ARMS.items()}
        rows = run_arms(arms, steps, torch.cuda.synchronize, a.rounds, a.block, a.idle_ms, clocks, say)
        res["parts"]["graph-inst"] = {"block": a.block, "arms": {k: {"graph": "instantiated under GRAPH_TRACE"
                                                                     if v[0] == "i" else "instantiated plainly",
                                                                     "tracer": v[1][1] if v[1] else None}
                                                                 for k, v in INST_ARMS.items()},
                                      "summary": summarize(rows, arms, a.rounds), "rows": rows}
        del decs
        torch.cuda.empty_cache()
        say("graph-inst done")
    if "eager-static" in a.parts.split(","):
        dec = Decoder(net, a.ctx, "eager-static", n)
        dec.prefill()
        dec.capture()
        for _ in range(5):
            dec.step()
        torch.cuda.synchronize()
        rows = run_arms(STATIC_ARMS, dec.step, torch.cuda.synchronize, a.rounds, a.static_block, a.idle_ms,
                        clocks, say)
        res["parts"]["eager-static"] = {"block": a.static_block,
                                        "arms": {k: (v[1] if v else "plain") for k, v in STATIC_ARMS.items()},
                                        "summary": summarize(rows, STATIC_ARMS, a.rounds), "rows": rows}
        say("eager-static done")
    (out / f"perturbation_ab{a.tag}.json").write_text(json.dumps(res, indent=1))
    for part, d in res["parts"].items():
        print(f"\n{part} (median of {a.rounds} rounds x {d['block']} steps, ratio CI over rounds)")
        for arm, s in d["summary"].items():
            ci = "" if not s["ci95_pct"] else f"[{s['ci95_pct'][0]:+.1f}, {s['ci95_pct'][1]:+.1f}]"
            win = f" win {s['window_median_ms']:.3f} k {s['kernels_per_step']:.0f}" if "window_median_ms" in s else ""
            pos = " ".join(f"{x:.2f}" for x in s["by_position_ms"])
            print(f"  {arm:<22} {s['median_ms']:8.3f} ms {s['pct_vs_untraced']:+6.1f}% {ci:<16} "
                  f"sm {s['sm_mhz_median']:.0f} cpu {s['cpu_khz_median'] / 1e3:.0f}{win} | {pos}")


if __name__ == "__main__":
    main()
