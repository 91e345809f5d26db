"""Step detection's cost (issue 27: under 0.5 s for 100 steps on a 2-core CPU): the recorded
hand-written loop (31 eager-static steps of 1,540 kernels, H200) tiled 4 times with shifted
timestamps and correlation ids (124 steps, 4 prefills), detection alone, minimum of 5.

    python3 benchmarks/detect_speed.py   # writes benchmarks/results/detect_speed.json
"""
import json
import time
from pathlib import Path

import numpy as np

from stepscope.analysis.trace import detect, load

ROOT = Path(__file__).resolve().parents[1]
t = load(ROOT / "traces" / "record-qwen2.5-7b-ctx2048-loop-eager-static-h200.stepscope")
span = max(int(t[x]["end_ns"].max()) for x in ("kernels", "api")) - int(t["api"]["start_ns"].min()) + 1
corr = int(max(t[x]["correlation"].max() for x in ("kernels", "api", "memcpy", "memset"))) + 1
for tab in ("kernels", "api", "memcpy", "memset"):
    cols = t[tab]
    t.tables[tab] = {c: np.concatenate([v + (i * span if c in ("start_ns", "end_ns") else i * corr if c == "correlation"
                                             else 0) for i in range(4)]) for c, v in cols.items()}
times = []
for _ in range(5):
    t0 = time.perf_counter()
    det = detect.detect(t)
    times.append(time.perf_counter() - t0)
res = {"steps_found": int(len(det.steps["index"])), "kernels": int(len(t["kernels"]["start_ns"])),
       "launch_calls": int(len(t["api"]["start_ns"])), "detect_s_min": round(min(times), 4),
       "detect_s_median": round(float(np.median(times)), 4), "target_s": 0.5,
       "machine": "the project's 2-core CI machine"}
(ROOT / "benchmarks" / "results" / "detect_speed.json").write_text(json.dumps(res, indent=1) + "\n")
print(res, det.rule, det.summary()["left_out"][:6], det.anchor)
