"""Results of `stepscope record --repeat` on the GPU (issue 27 item 5): the tracer's cost on
a recorded program, per decode step, over the decode steps and end to end.

    python3 benchmarks/record_repeat.py DIR [--prefix NAME] [--out benchmarks/results/record-repeat-h200]

DIR holds what benchmarks/record_repeat_gpu.sh wrote: NAME.stepscope (the traced run) and
NAME-repeat-K.stepscope (the timing-only runs). Writes tracer_cost.json and tracer_cost.md.

``--add-program-step``: timing runs recorded before 8752035 hold no steps, which a trace
must (they did not load: the H200 run of 2026-12-05 stopped after one timing run per
program for that reason). This rewrites such a file with the one step the fixed
`record --timing-only` writes (mode ``program``, from ``meta.record.start_ns`` to
``end_ns``), every other member byte for byte; the copies compared are untouched.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from stepscope.analysis.record_cost import tracer_cost
from stepscope.analysis.trace import load
from stepscope.analysis.trace.atomic import atomic_open


def add_program_step(path: Path) -> bool:
    """The fixed timing run's one step, written into an older timing run; False if it has steps."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    if len(np.load(io.BytesIO(members["steps.index.npy"]))):
        return False
    meta = json.loads(np.load(io.BytesIO(members["meta.json.npy"])).tobytes())
    strings = json.loads(np.load(io.BytesIO(members["strings.json.npy"])).tobytes())
    strings.append("program")
    row = {"index": 0, "mode": len(strings) - 1, "start_ns": meta["record"]["start_ns"],
           "end_ns": meta["record"]["end_ns"]}
    def npy(a) -> bytes:
        b = io.BytesIO()
        np.save(b, a)
        return b.getvalue()
    for n in members:
        if n.startswith("steps."):
            col = n[len("steps."):-len(".npy")]
            members[n] = npy(np.array([row.get(col, -1)], np.int64))
    members["strings.json.npy"] = npy(np.frombuffer(json.dumps(strings).encode(), np.uint8))
    with atomic_open(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in members.items():
            z.writestr(n, b)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/record-repeat-h200"))
    ap.add_argument("--prefix", default="", help="only the traced runs whose file name starts so")
    ap.add_argument("--add-program-step", action="store_true")
    ap.add_argument("--write-cost", action="store_true",
                    help="also write the cost into each traced run's meta.record.tracer_cost, as record --repeat does")
    a = ap.parse_args(argv)
    rows, out = [], {}
    for traced_path in sorted(p for p in a.dir.glob(f"{a.prefix}*.stepscope") if not re.search(r"-repeat-\d+$", p.stem)):
        reps = sorted(r for r in a.dir.glob(f"{traced_path.stem}-repeat-*.stepscope")
                      if re.fullmatch(rf"{re.escape(traced_path.stem)}-repeat-\d+", r.stem))
        if a.add_program_step:
            for r in reps:
                if add_program_step(r):
                    print(f"added the program step to {r}", file=sys.stderr)
        traced = load(traced_path)
        graph = "CUDA-graph" in traced.meta.get("step_detection", {}).get("rule", "")
        c = tracer_cost(traced, [load(r) for r in reps], graph=graph)
        c["files"] = [r.name for r in reps]
        out[traced_path.stem] = c
        if a.write_cost:
            traced.meta["record"]["tracer_cost"] = c
            traced.save(traced_path)
        p, e2e, span = c["per_step"], c["end_to_end"], c.get("decode_span")
        rows.append(f"| {traced_path.stem} | {len(reps)} | "
                    + (f"{p['traced_median_ns'] / 1e6:.3f} | {p['untraced_median_ns'] / 1e6:.3f} | {p['pct']:+.1f}% "
                       f"({p['ci95_pct'][0]:+.1f} to {p['ci95_pct'][1]:+.1f}) | {p['steps']} | {p['target_pct']:.0f}%"
                       if p else f"n/a | n/a | {c['why_not_per_step']} | | ")
                    + (f" | {span['pct']:+.1f}% |" if span else " | n/a |"))
        rows[-1] += f" {e2e['pct']:+.1f}% ({e2e['traced_ns'] / 1e9:.2f} vs {np.median(e2e['untraced_ns']) / 1e9:.2f} s) |"
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "tracer_cost.json").write_text(json.dumps(out, indent=1) + "\n")
    md = ["| run | timing runs | traced step ms | untraced step ms | per step (95% CI) | steps | target "
          "| decode steps in all | whole program |", "|---|---|---|---|---|---|---|---|---|", *rows]
    (a.out / "tracer_cost.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
