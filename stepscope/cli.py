"""`stepscope` command line. Errors a user can cause: one sentence, exit status 2."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from analysis.atomic import write_json

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = ROOT / "traces" / "qwen2.5-7b-ctx2048-eager-h100.stepscope"


class UsageError(Exception):
    """Bad input; the message is one sentence."""


def _say(quiet: bool):
    return (lambda msg: None) if quiet else (lambda msg: print(f"stepscope: {msg}", file=sys.stderr))


def check_writable(path: str | os.PathLike) -> Path:
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {parent} does not exist.")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".stepscope-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}.") from None
    return path


def cmd_trace(a) -> int:
    out = check_writable(a.output)
    from profiler.session import require_gpu, run_decode
    require_gpu()
    say = _say(a.quiet)
    trace, info = run_decode(a.model, a.ctx, a.mode, a.warmup, a.steps, a.trace_steps,
                             dram_interval_ns=int(a.dram_interval_us * 1000), attn=a.attn,
                             dtype=a.dtype, progress=say)
    trace.save(out)
    say(f"wrote {out}")
    return _print_report(out, a.json)


def load_trace(path, model: str | None = None, ctx: int | None = None):
    """A stepscope trace or a torch.profiler trace; ``model``/``ctx`` give a Kineto
    trace the decode model its floor needs."""
    from analysis.kineto import is_kineto, load_any
    t = load_any(path)
    if model:
        if not is_kineto(path):
            raise UsageError("--model/--ctx apply to torch.profiler traces only; a stepscope "
                             "trace records its workload.")
        from profiler.workloads import resolve_model
        spec = resolve_model(model)
        t.meta["workload"] = {"kind": "decode", "model": spec.name, "config": spec.config,
                              "ctx": ctx, "first_traced_position": ctx}
    return t


def _print_report(path, as_json: bool, model=None, ctx=None, calibration=None) -> int:
    from analysis.facade import TraceAnalysis
    from analysis.report import ConsoleRenderer, JsonRenderer
    cal = None
    if calibration:
        try:
            cal = json.loads(Path(calibration).read_text())
            cal["achievable_bytes_per_s"]
        except (OSError, ValueError, KeyError, TypeError):
            raise UsageError(f"{calibration} is not a `stepscope calibrate` result.") from None
    a = TraceAnalysis(load_trace(path, model, ctx), calibration=cal)
    try:
        print((JsonRenderer() if as_json else ConsoleRenderer()).render(a))
    except ValueError as e:
        raise UsageError(str(e)) from None
    return 0


def cmd_report(a) -> int:
    if a.model and not a.ctx:
        raise UsageError("--model needs --ctx (the prompt length of the traced steps).")
    return _print_report(a.trace, a.json, a.model, a.ctx, a.calibration)


def cmd_timeline(a) -> int:
    from analysis.facade import TraceAnalysis
    from analysis.figures import timeline
    out = check_writable(a.output)
    window = None
    if a.window:
        try:
            w0, w1 = (float(x) for x in a.window.split(":"))
        except ValueError:
            raise UsageError(f"--window takes START:END in ms from the step start, not {a.window!r}.") from None
        if w1 <= w0:
            raise UsageError("--window END must be after START.")
        window = (w0, w1)
    items = [TraceAnalysis(load_trace(p)) for p in a.traces]
    try:
        timeline(items, out, step=a.step, window_ms=window, width_px=a.width)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {out}")
    return 0


def cmd_bars(a) -> int:
    from analysis.facade import TraceAnalysis
    from analysis.figures import attribution_bars
    out = check_writable(a.output)
    attribution_bars([TraceAnalysis(load_trace(p)) for p in a.traces], out)
    print(f"wrote {out}")
    return 0


def cmd_export(a) -> int:
    from analysis.perfetto import write_chrome
    out = check_writable(a.perfetto)
    write_chrome(load_trace(a.trace), out)
    print(f"wrote {out} (open it in ui.perfetto.dev)")
    return 0


def cmd_calibrate(a) -> int:
    out = check_writable(a.output)
    from profiler.calibrate import run
    from profiler.session import require_gpu
    require_gpu()
    res = run(chain_out=a.chain)
    write_json(out, res)
    bw, peak = res["bandwidth"], res["gpu"].get("peak_bytes_per_s") or float("nan")
    print(f"{res['gpu']['name']} ({res['gpu']['uuid']})")
    print(f"  read kernel  {bw['read_bytes_per_s'] / 1e9:7.0f} GB/s = {100 * bw['read_bytes_per_s'] / peak:.1f}% of peak {peak / 1e9:.0f}")
    print(f"  copy kernel  {bw['copy_bytes_per_s'] / 1e9:7.0f} GB/s; torch copy_ {bw['torch_copy_bytes_per_s'] / 1e9:.0f} GB/s")
    for n, v in res["launch"].items():
        print(f"  {n:>5} null kernels: host {v['host_ns_per_launch'] / 1e3:.2f} us/launch, eager GPU "
              f"{v['eager_gpu_ns_per_kernel'] / 1e3:.2f} us/kernel, graph {v['graph_ns_per_node'] / 1e3:.2f} us/node")
    print(f"wrote {out}")
    return 0


def cmd_ab(a) -> int:
    from analysis.ab import summarize
    from profiler.ab import ARMS, run_ab
    arms = a.arms.split(",")
    bad = [x for x in arms if x not in ARMS]
    if bad or len(arms) < 2:
        raise UsageError(f"--arms takes two or more of {', '.join(ARMS)}, not {a.arms!r}.")
    out_dir = Path(a.output)
    if not a.report_only:
        from profiler.session import require_gpu
        require_gpu()
        try:
            run_ab(a.model, a.ctx, a.sessions, arms, out_dir, a.warmup, a.steps, progress=_say(a.quiet))
        except (ValueError, RuntimeError) as e:
            raise UsageError(str(e)) from None
    from profiler.ab import load_sessions
    sessions = load_sessions(out_dir)
    if not sessions:
        raise UsageError(f"{out_dir} holds no A/B sessions.")
    node = 0.0
    if a.calibration:
        cal = json.loads(Path(a.calibration).read_text())
        node = float(cal["traced_gaps"]["graph_gap_ns_median"])
    res = {}
    for arm in arms[1:]:
        try:
            res[arm] = summarize(sessions, arms[0], arm, node)
        except ValueError as e:
            raise UsageError(str(e)) from None
    write_json(out_dir / "summary.json", res)
    from analysis.figures import ab_figure
    ab_figure(res, out_dir / "ab.png", title=f"{sessions[0]['model']} ctx {sessions[0]['ctx']} on {sessions[0]['gpu']}")
    for arm, r in res.items():
        pred = (f"predicted from the eager attribution {r['predicted_speedup_median']:.3f}x: "
                if r["predicted_speedup_median"] else "")
        print(f"{r['base']} / {arm}: median speedup {r['speedup_median']:.3f}x, 95% CI "
              f"{r['ci95'][0]:.3f}-{r['ci95'][1]:.3f} over {r['sessions']} sessions; {pred}{r['verdict']}")
    print(f"wrote {out_dir / 'summary.json'} and {out_dir / 'ab.png'}")
    return 0


def cmd_sweep(a) -> int:
    from analysis import sweep as S
    out_dir = Path(a.output)
    if not a.report_only:
        from profiler.session import require_gpu
        from profiler.sweep import run_sweep
        require_gpu()
        run_sweep(a.models.split(","), [int(x) for x in a.ctx.split(",")], a.modes.split(","), out_dir,
                  a.warmup, a.steps, progress=_say(a.quiet))
    try:
        cells = S.load_cells(out_dir)
    except ValueError as e:
        raise UsageError(str(e)) from None
    (out_dir / "cells.csv").write_text(S.to_csv(cells))
    md = S.to_markdown(cells)
    (out_dir / "table.md").write_text(md + "\n")
    S.figures(cells, out_dir)
    print(md)
    return 0


def cmd_quant(a) -> int:
    from analysis.quant import ARM_ORDER as ARMS
    from analysis.quant import load_arms, table, to_markdown
    arms = a.arms.split(",")
    bad = [x for x in arms if x not in ARMS]
    if bad:
        raise UsageError(f"--arms takes {', '.join(ARMS)}, not {', '.join(bad)}.")
    out_dir = Path(a.output)
    if not a.report_only:
        from profiler.quant import run_quant
        from profiler.session import require_gpu
        require_gpu()
        run_quant(a.model, a.ctx, arms, out_dir, a.warmup, a.steps, progress=_say(a.quiet))
    res = load_arms(out_dir, a.model, a.ctx)
    if not res:
        raise UsageError(f"{out_dir} holds no quantised-arm results for {a.model} at ctx {a.ctx}.")
    gpu = next((r["gpu"] for r in res if r.get("gpu")), "?")
    md = to_markdown(table(res), gpu)
    (out_dir / "table.md").write_text(md + "\n")
    print(md)
    return 0


def cmd_compare(a) -> int:
    from analysis import sweep as S
    try:
        sets = [S.load_cells(d) for d in a.dirs]
    except ValueError as e:
        raise UsageError(str(e)) from None
    res = S.compare(sets)
    print("| GPU | peak TB/s | valid cells | % of floor, eager | % of floor, graph | graph speedup |")
    print("|---|---|---|---|---|---|")
    for r in res["gpus"]:
        sp = r["graph_speedup_median"]
        print(f"| {r['gpu']} | {r['peak_bytes_per_s'] / 1e12:.2f} | {r['valid']}/{r['cells']} | "
              f"{r.get('pct_floor_all_eager', float('nan')):.1f} | {r.get('pct_floor_all_graph', float('nan')):.1f} | "
              + (f"{sp:.3f} |" if sp else "n/a |"))
    if res["answer"]:
        ans = res["answer"]
        falls = ", ".join(f"{m}: {'yes' if v else 'no'}" for m, v in ans["pct_floor_falls_as_peak_rises"].items())
        print(f"\n% of floor falls as peak bandwidth rises? {falls}. Graph speedup grows with peak "
              f"bandwidth? {'yes' if ans['graph_speedup_grows_with_peak'] else 'no'}.")
    from profiler.workloads import registry
    models = sorted({c["model"] for cs in sets for c in cs if c.get("valid")})
    cfgs = {m: json.loads(registry()[m].read_text()) for m in models if m in registry()}
    floors = S.floor_table(cfgs)
    print("\nAnalytic floor at ctx 2048, ms (all parameters + KV over datasheet peak; not measurements):")
    gpus = [k for k in floors[0] if k not in ("model", "ctx")] if floors else []
    print("| model | " + " | ".join(gpus) + " |")
    print("|---|" + "---|" * len(gpus))
    for f in floors:
        print(f"| {f['model']} | " + " | ".join(f"{f[g]:.2f}" for g in gpus) + " |")
    if a.output:
        out = Path(a.output)
        write_json(out.with_suffix(".json"), {**res, "floors_ms": floors})
        S.compare_figure(res, floors, out.with_suffix(".png"))
        print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return 0


def cmd_default(a) -> int:
    """The main job: trace a default decode step on a GPU; without one, report on a
    trace shipped in traces/."""
    try:
        import torch
        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    if gpu:
        return cmd_trace(build_parser().parse_args(["trace", "-o", "stepscope-default.stepscope"]))
    print(f"stepscope: no CUDA GPU here; reporting on the recorded trace {DEFAULT_TRACE.relative_to(ROOT)}",
          file=sys.stderr)
    return _print_report(DEFAULT_TRACE, False)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="stepscope", description="Where does a batch-1 decode step's time go?")
    sub = ap.add_subparsers(dest="cmd")
    t = sub.add_parser("trace", help="run a decode workload on the GPU and trace it")
    t.add_argument("--model", default="qwen2.5-7b",
                   help="registry name (qwen2.5-7b, llama-3.1-8b, mistral-7b-v0.3, mistral-7b-v0.1), "
                        "a checkpoint folder, or a config .json")
    t.add_argument("--ctx", type=int, default=2048, help="prompt tokens before decoding")
    t.add_argument("--mode", default="eager", choices=("eager", "eager-static", "graph"))
    t.add_argument("--warmup", type=int, default=5)
    t.add_argument("--steps", type=int, default=30, help="untraced, timed steps (the headline)")
    t.add_argument("--trace-steps", type=int, default=5, help="traced steps written to the file")
    t.add_argument("--dram-interval-us", type=float, default=20.0)
    t.add_argument("--attn", default="sdpa")
    t.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16"))
    t.add_argument("-o", "--output", default="trace.stepscope")
    t.add_argument("--quiet", action="store_true")
    t.add_argument("--json", action="store_true")
    t.set_defaults(fn=cmd_trace)
    r = sub.add_parser("report", help="attribute a recorded trace (no GPU needed)")
    r.add_argument("trace", help="a .stepscope trace, or a torch.profiler .json/.json.gz trace")
    r.add_argument("--json", action="store_true")
    r.add_argument("--model", help="torch.profiler traces: the decode model, for the floor")
    r.add_argument("--ctx", type=int, help="torch.profiler traces: the prompt length")
    r.add_argument("--calibration", help="a `stepscope calibrate` JSON of the same GPU: adds the achievable floor")
    r.set_defaults(fn=cmd_report)
    tl = sub.add_parser("timeline", help="launch-gap timeline figure (PNG/SVG)")
    tl.add_argument("traces", nargs="+", help="one trace, or two (e.g. eager and graph) on one time scale")
    tl.add_argument("-o", "--output", required=True)
    tl.add_argument("--step", type=int, help="step index (default: the median-duration step)")
    tl.add_argument("--window", help="START:END in ms from the step start")
    tl.add_argument("--width", type=int, default=1800, help="figure width in pixels")
    tl.set_defaults(fn=cmd_timeline)
    b = sub.add_parser("bars", help="stacked attribution bars for several traces")
    b.add_argument("traces", nargs="+")
    b.add_argument("-o", "--output", required=True)
    b.set_defaults(fn=cmd_bars)
    e = sub.add_parser("export", help="export a trace for Perfetto UI")
    e.add_argument("trace")
    e.add_argument("--perfetto", required=True, help="output Chrome trace-event JSON")
    e.set_defaults(fn=cmd_export)
    c = sub.add_parser("calibrate", help="the GPU's launch and bandwidth limits (GPU)")
    c.add_argument("-o", "--output", default="calibration.json")
    c.add_argument("--chain", help="also trace the ground-truth chain into this file")
    c.set_defaults(fn=cmd_calibrate)
    ab = sub.add_parser("ab", help="eager vs CUDA graph over fresh sessions, bootstrap CI (GPU)")
    ab.add_argument("--model", default="qwen2.5-7b")
    ab.add_argument("--ctx", type=int, default=2048)
    ab.add_argument("--sessions", type=int, default=10)
    ab.add_argument("--arms", default="eager-static,graph", help="first is the baseline; also eager, compile")
    ab.add_argument("--warmup", type=int, default=5)
    ab.add_argument("--steps", type=int, default=30)
    ab.add_argument("--calibration", help="calibration JSON: graph per-node cost for the prediction")
    ab.add_argument("--report-only", action="store_true", help="summarise the sessions already in -o")
    ab.add_argument("-o", "--output", default="ab")
    ab.add_argument("--quiet", action="store_true")
    ab.set_defaults(fn=cmd_ab)
    sw = sub.add_parser("sweep", help="the paper's grid, one fresh process per cell (GPU)")
    sw.add_argument("--models", default="qwen2.5-7b,llama-3.1-8b,mistral-7b-v0.3")
    sw.add_argument("--ctx", default="2048,4096,8192,16384")
    sw.add_argument("--modes", default="eager,graph")
    sw.add_argument("--warmup", type=int, default=5)
    sw.add_argument("--steps", type=int, default=30)
    sw.add_argument("--report-only", action="store_true")
    sw.add_argument("-o", "--output", default="sweep")
    sw.add_argument("--quiet", action="store_true")
    sw.set_defaults(fn=cmd_sweep)
    q = sub.add_parser("quant", help="quantised weight paths vs bf16: bytes saved vs time saved (GPU)")
    q.add_argument("--model", default="qwen2.5-7b")
    q.add_argument("--ctx", type=int, default=2048)
    q.add_argument("--arms", default="bf16,bnb-nf4,torchao-int8wo,torchao-int4wo")
    q.add_argument("--warmup", type=int, default=5)
    q.add_argument("--steps", type=int, default=30)
    q.add_argument("--report-only", action="store_true")
    q.add_argument("-o", "--output", default="quant")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(fn=cmd_quant)
    cp = sub.add_parser("compare", help="merge sweeps of several GPUs")
    cp.add_argument("dirs", nargs="+")
    cp.add_argument("-o", "--output", help="writes OUTPUT.json and OUTPUT.png")
    cp.set_defaults(fn=cmd_compare)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    from analysis.trace import TraceFileError
    from profiler.errors import USER_ERRORS
    try:
        if a.cmd is None:
            return cmd_default(a)
        for name in ("ctx", "steps", "trace_steps", "sessions", "warmup"):
            if isinstance(getattr(a, name, None), int) and getattr(a, name) < (0 if name == "warmup" else 1):
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1.")
        return a.fn(a)
    except (UsageError, TraceFileError, *USER_ERRORS) as e:
        print(f"stepscope: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stepscope: interrupted; no file was written.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
