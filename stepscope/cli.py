"""`stepscope` command line: parse, call one function, hand the result to a renderer.
Errors a user can cause: one sentence, exit status 2."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from stepscope.analysis.trace.atomic import write_json, write_text

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


def check_not_overwriting(paths, force: bool) -> None:
    """Re-rendering never overwrites results already there unless asked."""
    there = [p for p in paths if Path(p).exists()]
    if there and not force:
        raise UsageError(f"{there[0]} exists; pass --force to overwrite it.")


def _load_json(path, what: str, key: str) -> dict:
    try:
        d = json.loads(Path(path).read_text())
        d[key]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"{path} is not {what}.") from None
    return d


# -- commands -------------------------------------------------------------------
def cmd_trace(a) -> int:
    out = check_writable(a.output)
    from stepscope.profiler.experiments.protocol import require_gpu, run_decode
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
    from stepscope.analysis.trace import is_kineto, load, workload
    t = load(path)
    if model:
        if not is_kineto(path):
            raise UsageError("--model/--ctx apply to torch.profiler traces only; a stepscope "
                             "trace records its workload.")
        from stepscope.profiler.workloads.decode import resolve_model
        spec = resolve_model(model)
        t.meta["workload"] = workload.decode(spec.name, spec.config, ctx)
    return t


def _print_report(path, as_json: bool, model=None, ctx=None, calibration=None) -> int:
    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.analysis.render.console import ConsoleRenderer
    from stepscope.analysis.render.json_report import JsonRenderer
    cal = _load_json(calibration, "a `stepscope calibrate` result", "achievable_bytes_per_s") \
        if calibration else None
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


def _window(text: str | None):
    if not text:
        return None
    try:
        w0, w1 = (float(x) for x in text.split(":"))
    except ValueError:
        raise UsageError(f"--window takes START:END in ms from the step start, not {text!r}.") from None
    if w1 <= w0:
        raise UsageError("--window END must be after START.")
    return (w0, w1)


def cmd_timeline(a) -> int:
    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.analysis.render.figures import timeline
    out = check_writable(a.output)
    window = _window(a.window)
    items = [TraceAnalysis(load_trace(p)) for p in a.traces]
    try:
        timeline(items, out, step=a.step, window_ms=window, width_px=a.width)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {out}")
    return 0


def cmd_bars(a) -> int:
    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.analysis.render.figures import attribution_bars
    out = check_writable(a.output)
    attribution_bars([TraceAnalysis(load_trace(p)) for p in a.traces], out)
    print(f"wrote {out}")
    return 0


def cmd_export(a) -> int:
    from stepscope.analysis.render.perfetto import write_chrome
    out = check_writable(a.perfetto)
    write_chrome(load_trace(a.trace), out)
    print(f"wrote {out} (open it in ui.perfetto.dev)")
    return 0


def cmd_calibrate(a) -> int:
    out = check_writable(a.output)
    from stepscope.analysis.render.tables import calibration_text
    from stepscope.profiler.experiments.calibrate import run
    from stepscope.profiler.experiments.protocol import require_gpu
    require_gpu()
    res = run(chain_out=a.chain)
    write_json(out, res)
    print(calibration_text(res))
    print(f"wrote {out}")
    return 0


def cmd_ab(a) -> int:
    from stepscope.analysis.render.result_figures import ab_figure
    from stepscope.analysis.render.tables import ab_text
    from stepscope.profiler.experiments import ab
    arms = a.arms.split(",")
    bad = [x for x in arms if x not in ab.ARMS]
    if bad or len(arms) < 2:
        raise UsageError(f"--arms takes two or more of {', '.join(ab.ARMS)}, not {a.arms!r}.")
    out_dir = Path(a.output)
    outputs = (out_dir / "summary.json", out_dir / "ab.png", out_dir / "report.txt")
    if a.report_only:
        check_not_overwriting(outputs, a.force)
    else:
        _run_on_gpu(ab.run_ab, a.model, a.ctx, a.sessions, arms, out_dir, a.warmup, a.steps,
                    progress=_say(a.quiet), seed=a.seed)
    cal = [_load_json(c, "a `stepscope calibrate` result", "launch") for c in a.calibration or []]
    try:
        res = ab.summarise(out_dir, arms, cal)
    except ValueError as e:
        raise UsageError(str(e)) from None
    write_json(outputs[0], res["summaries"])
    ab_figure(res["summaries"], outputs[1], title=res["title"])
    text = f"{res['title']}\n{ab_text(res['summaries'])}\n"
    write_text(outputs[2], text)
    print(text, end="")
    print(f"wrote {outputs[0]}, {outputs[1]} and {outputs[2]}")
    return 0


def _run_on_gpu(fn, *args, **kw):
    from stepscope.profiler.experiments.protocol import require_gpu
    require_gpu()
    try:
        return fn(*args, **kw)
    except (ValueError, RuntimeError) as e:
        raise UsageError(str(e)) from None


def cmd_sweep(a) -> int:
    from stepscope.analysis.render.result_figures import sweep_figures
    from stepscope.analysis.render.tables import sweep_csv, sweep_markdown
    from stepscope.profiler.experiments import sweep
    out_dir = Path(a.output)
    csv_path, md_path = out_dir / "cells.csv", out_dir / "table.md"
    if a.report_only:
        check_not_overwriting((csv_path, md_path, out_dir / "pct_floor_vs_ctx.png",
                               out_dir / "launch_share.png"), a.force)
    else:
        _run_on_gpu(sweep.run_sweep, a.models.split(","), [int(x) for x in a.ctx.split(",")],
                    a.modes.split(","), out_dir, a.warmup, a.steps, progress=_say(a.quiet))
    try:
        cells = sweep.load_cells(out_dir)
    except ValueError as e:
        raise UsageError(str(e)) from None
    write_text(csv_path, sweep_csv(cells))
    md = sweep_markdown(cells)
    write_text(md_path, md + "\n")
    sweep_figures(cells, out_dir)
    print(md)
    return 0


def cmd_quant(a) -> int:
    from stepscope.analysis.render.tables import quant_markdown
    from stepscope.analysis.results.quant import table
    from stepscope.profiler.experiments import quant
    arms = a.arms.split(",")
    bad = [x for x in arms if x not in quant.ARMS]
    if bad:
        raise UsageError(f"--arms takes {', '.join(quant.ARMS)}, not {', '.join(bad)}.")
    out_dir = Path(a.output)
    md_path = out_dir / "table.md"
    if a.report_only:
        check_not_overwriting((md_path,), a.force)
    else:
        _run_on_gpu(quant.run_quant, a.model, a.ctx, arms, out_dir, a.warmup, a.steps,
                    progress=_say(a.quiet))
    res = quant.load_arms(out_dir, a.model, a.ctx)
    if not res:
        raise UsageError(f"{out_dir} holds no quantised-arm results for {a.model} at ctx {a.ctx}.")
    gpu = next((r["gpu"] for r in res if r.get("gpu")), "?")
    md = quant_markdown(table(res), gpu)
    write_text(md_path, md + "\n")
    print(md)
    return 0


def cmd_compare(a) -> int:
    from stepscope.analysis.render.result_figures import compare_figure
    from stepscope.analysis.render.tables import compare_text
    from stepscope.analysis.results.sweep import compare, floor_table
    from stepscope.profiler.experiments.sweep import load_cells
    from stepscope.profiler.workloads.decode import registry
    try:
        sets = [load_cells(d) for d in a.dirs]
    except ValueError as e:
        raise UsageError(str(e)) from None
    res = compare(sets)
    models = sorted({c["model"] for cs in sets for c in cs if c.get("valid")})
    cfgs = {m: json.loads(registry()[m].read_text()) for m in models if m in registry()}
    floors = floor_table(cfgs)
    print(compare_text(res, floors))
    if a.output:
        out = Path(a.output)
        write_json(out.with_suffix(".json"), {**res, "floors_ms": floors})
        compare_figure(res, floors, out.with_suffix(".png"))
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


# -- parser -----------------------------------------------------------------------
def _experiment_parent() -> argparse.ArgumentParser:
    """Options that ab, sweep and quant share, with the same meaning everywhere."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before timing, per arm (default 5)")
    p.add_argument("--steps", type=int, default=30, help="timed decode steps per arm (default 30)")
    p.add_argument("--report-only", action="store_true", help="summarise the results already in -o; no GPU")
    p.add_argument("--force", action="store_true", help="with --report-only: overwrite the summaries already there")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    return p


def _add_trace(sub) -> None:
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


def _add_readers(sub) -> None:
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
    cp = sub.add_parser("compare", help="merge sweeps of several GPUs")
    cp.add_argument("dirs", nargs="+")
    cp.add_argument("-o", "--output", help="writes OUTPUT.json and OUTPUT.png")
    cp.set_defaults(fn=cmd_compare)


def _add_experiments(sub) -> None:
    common = _experiment_parent()
    c = sub.add_parser("calibrate", help="the GPU's launch and bandwidth limits (GPU)")
    c.add_argument("-o", "--output", default="calibration.json")
    c.add_argument("--chain", help="also trace the ground-truth chain into this file")
    c.set_defaults(fn=cmd_calibrate)
    ab = sub.add_parser("ab", parents=[common], help="eager vs CUDA graph over fresh sessions, bootstrap CI (GPU)")
    ab.add_argument("--model", default="qwen2.5-7b")
    ab.add_argument("--ctx", type=int, default=2048)
    ab.add_argument("--sessions", type=int, default=10)
    ab.add_argument("--arms", default="eager-static,graph", help="first is the baseline; also eager, compile")
    ab.add_argument("--calibration", action="append",
                    help="calibration JSON of the same GPU (repeat for several runs): the node gap of the prediction")
    ab.add_argument("--seed", type=int, default=0, help="seeds each session's shuffled arm order (recorded)")
    ab.add_argument("-o", "--output", default="ab")
    ab.set_defaults(fn=cmd_ab)
    sw = sub.add_parser("sweep", parents=[common], help="the paper's grid, one fresh process per cell (GPU)")
    sw.add_argument("--models", default="qwen2.5-7b,llama-3.1-8b,mistral-7b-v0.3")
    sw.add_argument("--ctx", default="2048,4096,8192,16384")
    sw.add_argument("--modes", default="eager,graph")
    sw.add_argument("-o", "--output", default="sweep")
    sw.set_defaults(fn=cmd_sweep)
    q = sub.add_parser("quant", parents=[common], help="quantised weight paths vs bf16: bytes saved vs time saved (GPU)")
    q.add_argument("--model", default="qwen2.5-7b")
    q.add_argument("--ctx", type=int, default=2048)
    q.add_argument("--arms", default="bf16,bnb-nf4,torchao-int8wo,torchao-int4wo")
    q.add_argument("-o", "--output", default="quant")
    q.set_defaults(fn=cmd_quant)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="stepscope", description="Where does a batch-1 decode step's time go?")
    sub = ap.add_subparsers(dest="cmd")
    _add_trace(sub)
    _add_readers(sub)
    _add_experiments(sub)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    from stepscope.analysis.trace import TraceFileError
    from stepscope.profiler.errors import USER_ERRORS
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
