"""Issue 27's comparison, on the CPU, of what benchmarks/record_gpu.sh recorded on the GPU:
per decode step, `stepscope record` vs the built-in `stepscope trace` of the same mode
(kernels and GPU busy time), and `record` vs plain torch.profiler of the same run (steps
found and kernels per step). Writes a JSON and prints a table.

    python3 benchmarks/record_compare.py DIR [-o benchmarks/results/record-h200/compare.json]

DIR holds the GPU call's files (record-*.stepscope, builtin-*.stepscope, tp-*.json.gz).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.trace import detect, load

RUNS = [("hf eager", "record-hf-eager.stepscope", "tp-hf-eager.json.gz", "builtin-eager.stepscope"),
        ("hf static", "record-hf-static.stepscope", "tp-hf-static.json.gz", "builtin-eager-static.stepscope"),
        ("hf compiled", "record-hf-compiled.stepscope", "tp-hf-compiled.json.gz", None),
        ("loop eager-static", "record-loop-eager-static.stepscope", "tp-loop-eager-static.json.gz",
         "builtin-eager-static.stepscope")]


def per_step(path: Path, mode: str | None = None) -> dict:
    t = load(path)
    if "record" in t.meta:      # steps found again by the current detection (trace/detect.py)
        detect.apply(t, detect.detect(t))
    s = TraceAnalysis(t).get_steps()
    modes = np.array([t.strings[m] for m in t["steps"]["mode"]])
    order = np.argsort(t["steps"]["start_ns"])
    sel = np.ones(len(order), bool) if mode is None else modes[order] == mode
    k = t["kernels"]
    kern = np.bincount(k["step"][k["step"] >= 0], minlength=int(t["steps"]["index"].max()) + 1)
    idx = t["steps"]["index"][order][sel]
    busy = {int(i): int(b) for i, b in zip(s["step"], s["busy_ns"])}
    det = t.meta.get("step_detection", {})
    return {"steps": int(sel.sum()), "kernels": [int(kern[i]) for i in idx], "busy_ns": [busy[int(i)] for i in idx],
            "rule": det.get("rule"), "decode_steps": det.get("decode_steps"), "steady_steps": det.get("steady_steps"),
            "warmup_steps": det.get("warmup_steps"), "prefill": det.get("prefill")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("-o", "--output", type=Path)
    a = ap.parse_args()
    rows = []
    for name, rec, tp, builtin in RUNS:
        r = per_step(a.dir / rec, "decode")
        row = {"run": name, "record": r}
        if (a.dir / tp).is_file():
            row["torch_profiler"] = per_step(a.dir / tp, "decode")
        if builtin:
            row["builtin"] = per_step(a.dir / builtin)
        rows.append(row)
    print(f"{'run':<18} {'record steps':>12} {'tp steps':>8} {'kern/step rec':>13} {'tp':>6} {'builtin':>7} "
          f"{'kern diff':>9} {'busy ms rec':>11} {'builtin':>7} {'busy diff':>9} {'max |rec-tp| kern':>17}")
    for row in rows:
        r, tp, b = row["record"], row.get("torch_profiler"), row.get("builtin")
        kr = float(np.median(r["kernels"]))
        ktp = float(np.median(tp["kernels"])) if tp else float("nan")
        kb = float(np.median(b["kernels"])) if b else float("nan")
        br = float(np.median(r["busy_ns"])) / 1e6
        bb = float(np.median(b["busy_ns"])) / 1e6 if b else float("nan")
        same = tp and len(tp["kernels"]) == len(r["kernels"])
        dmax = int(np.max(np.abs(np.array(tp["kernels"]) - np.array(r["kernels"])))) if same else None
        row["summary"] = {"kernels_per_step_record": kr, "kernels_per_step_torch_profiler": ktp,
                          "kernels_per_step_builtin": kb, "kernel_diff_vs_builtin": kr / kb - 1 if b else None,
                          "busy_ms_record": br, "busy_ms_builtin": bb, "busy_diff_vs_builtin": br / bb - 1 if b else None,
                          "max_abs_kernel_diff_record_vs_torch_profiler": dmax}
        print(f"{row['run']:<18} {r['steps']:>12} {tp['steps'] if tp else '-':>8} {kr:>13.0f} {ktp:>6.0f} {kb:>7.0f} "
              f"{(kr / kb - 1) * 100 if b else float('nan'):>8.1f}% {br:>11.3f} {bb:>7.3f} "
              f"{(br / bb - 1) * 100 if b else float('nan'):>8.1f}% {str(dmax):>17}")
    if a.output:
        a.output.parent.mkdir(parents=True, exist_ok=True)
        a.output.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
