"""Quantised arms over fresh sessions: one `stepscope quant` result folder per session
(`SESSIONS=N bash benchmarks/quant_build.sh TAG`), summarised per arm and mode with
ranges over sessions (analysis/results/quant.over_sessions).

    python3 benchmarks/quant_sessions.py -o benchmarks/results/quant-lib-h100-sessions/sessions.md \
        benchmarks/results/quant-lib-h100 benchmarks/results/quant-lib-h100-sessions/quant-h100{,-s2,-s3}
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stepscope.analysis.results.quant import over_sessions  # noqa: E402
from stepscope.profiler.experiments.quant import load_arms  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", help="one stepscope quant result folder per fresh session")
    ap.add_argument("-o", "--output", required=True, help="markdown table to write (a .json beside it)")
    a = ap.parse_args()
    sessions = [load_arms(Path(d), "qwen2.5-7b", 2048) for d in a.dirs]
    gpus = {arm.get("gpu") for s in sessions for arm in s}
    rows = over_sessions(sessions)
    rows.sort(key=lambda r: ({"bf16": 0}.get(r["arm"], 1), r["arm"], r["mode"]))
    md = [f"Quantised arms over {len(sessions)} fresh sessions on {', '.join(sorted(g for g in gpus if g))} "
          "(Qwen2.5-7B, ctx 2048; ms: median over sessions of each session's median of 30 untraced steps; "
          "realised: median over sessions of bf16 ms / arm ms within the session; brackets: the range over "
          "sessions, and a 95% percentile bootstrap over sessions where there are 10 or more)", "",
          "sessions: " + ", ".join(a.dirs), "",
          "| arm | mode | sessions | ms/step [range] | per session ms | realised speedup [range] | 95% bootstrap |",
          "|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["ms_range"]
        sp = "1.00x" if r["arm"] == "bf16" else \
            f"{r['realised_speedup']:.2f}x [{r['speedup_range'][0]:.2f}-{r['speedup_range'][1]:.2f}]"
        ci = r["realised_speedup_ci"] or r["median_ms_ci"]
        boot = f"{ci[0]:.2f}-{ci[1]:.2f}" if ci and r["arm"] != "bf16" else "-"
        md.append(f"| {r['arm']} | {r['mode']} | {r['sessions']} | {r['median_ms']:.2f} [{lo:.2f}-{hi:.2f}] | "
                  f"{', '.join(f'{x:.2f}' for x in r['session_ms'])} | {sp} | {boot} |")
    out = Path(a.output)
    out.write_text("\n".join(md) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"sessions": a.dirs, "rows": rows}, indent=1))
    print("\n".join(md))


if __name__ == "__main__":
    main()
