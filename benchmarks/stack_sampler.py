"""The stack sampler on the GPU (issue #14, optional deep-dive view): (1) recovery: a step of
three Python functions that busy-wait known times, each then launching one tiny kernel, so
the launch-bound idle is known function by function; the sampled stacks must give each
function its share; (2) a Qwen2.5-7B eager-static decode traced with stack samples, with its
perturbation over interleaved rounds beside the default tracer's. Run on the GPU machine:

    python3 benchmarks/stack_sampler.py --out $OUT --tag h100

Writes traces and stack_sampler-TAG.json under --out and prints a short table last.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stages import ROWS, stage  # noqa: E402 - benchmarks/ is the script's folder

#: function -> busy-wait per call (ms); known launch-bound idle per step.
KNOWN_MS = {"prepare_inputs": 3.0, "sample_next_token": 8.0, "update_state": 1.0}


def prepare_inputs(spin):
    spin(int(KNOWN_MS["prepare_inputs"] * 1e6))


def sample_next_token(spin):
    spin(int(KNOWN_MS["sample_next_token"] * 1e6))


def update_state(spin):
    spin(int(KNOWN_MS["update_state"] * 1e6))


@stage
def recovery(out, tag, period_us, steps=12):
    import torch

    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.analysis.trace import workload
    from stepscope.profiler.capture import Tracer
    from stepscope.profiler.workloads.host_spin import spin_ns
    x = torch.zeros(16, device="cuda")

    def step():
        for fn in (prepare_inputs, sample_next_token, update_state):
            fn(spin_ns)
            x.add_(1)
    step()
    torch.cuda.synchronize()
    with Tracer(warn=lambda m: None, stack_period_ns=int(period_us * 1000)) as tr:
        for i in range(steps):
            with tr.step(i, mode="spin"):
                step()
    t = tr.trace
    t.meta["workload"] = workload.constructed(
        "stack_spin", 0, "three Python functions busy-wait known times per step, each then launching one "
        f"tiny kernel: {KNOWN_MS} ms (benchmarks/stack_sampler.py)", known_ms=KNOWN_MS)
    t.save(out / f"stack-spin-{tag}.stepscope")
    st = TraceAnalysis(t).get_stacks(50)
    incl = dict(zip(st["inclusive"]["frame"], st["inclusive"]["share"]))
    total = sum(KNOWN_MS.values())
    res = {"samples": st["samples"], "in_launch_idle": st["samples_in_launch_idle"],
           "median_interval_ns": st["median_interval_ns"], "functions": {}}
    for fn, ms in KNOWN_MS.items():
        got = sum(v for f, v in incl.items() if f.endswith(f" {fn}"))
        res["functions"][fn] = {"known_share": ms / total, "sampled_share": got}
    (out / f"stack_recovery-{tag}.json").write_text(json.dumps(res, indent=1))
    ROWS.append(f"  recovery: {st['samples_in_launch_idle']}/{st['samples']} samples, every "
                f"{(st['median_interval_ns'] or 0) / 1e3:.0f} us; " + ", ".join(
                    f"{fn} {100 * r['sampled_share']:.1f}% (known {100 * r['known_share']:.1f}%)"
                    for fn, r in res["functions"].items()))


@stage
def decode(out, tag, period_us, rounds):
    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.profiler.experiments.protocol import run_decode
    from stepscope.profiler.workloads.decode import build_model, resolve_model
    spec = resolve_model("qwen2.5-7b")
    built = (spec, build_model(spec))
    res = {}
    for label, ns in (("default", 0), ("stacks", int(period_us * 1000))):
        trace, _ = run_decode("qwen2.5-7b", 2048, "eager-static", trace_steps=1, steps=5 * rounds, rounds=rounds,
                              built=built, stack_period_ns=ns)
        p = trace.meta["perturbation"]
        res[label] = {"perturbation_pct": p["pct"], "ci95_pct": p["ci95_pct"],
                      "stack_sampler": trace.meta["capture"].get("stack_sampler")}
        if ns:
            trace.save(out / f"qwen2.5-7b-ctx2048-eager-static-stacks-{tag}.stepscope")
            st = TraceAnalysis(trace).get_stacks(8)
            res[label]["innermost"] = st["innermost"]
            ROWS.append("  top lines: " + "; ".join(f"{f[-50:]} {100 * s:.0f}%" for f, s in
                                                      zip(st["innermost"]["frame"][:4], st["innermost"]["share"][:4])))
        ROWS.append(f"  eager-static {label:<8} perturbation {p['pct']:+.1f}% {p['ci95_pct']}")
    (out / f"stack_decode-{tag}.json").write_text(json.dumps(res, indent=1, default=str))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tag", default="h100")
    ap.add_argument("--period-us", type=float, default=500.0)
    ap.add_argument("--rounds", type=int, default=6)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    recovery(out, a.tag, a.period_us)
    decode(out, a.tag, a.period_us, a.rounds)
    print("\n".join(ROWS))


if __name__ == "__main__":
    sys.exit(main())
