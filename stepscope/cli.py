"""`stepscope` command line: parse, call one function, hand the result to a renderer.
Errors a user can cause: one sentence, exit status 2."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from stepscope import __version__, inputs
from stepscope.analysis.trace.atomic import write_json, write_text
from stepscope.inputs import figure_path
from stepscope.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = ROOT / "traces" / "qwen2.5-7b-ctx2048-eager-h100.stepscope"


class UsageError(Exception):
    """Bad input; the message is one sentence."""


#: Outputs are checked the same way before a command runs and where it writes.
check_writable = inputs.check_writable


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
    from stepscope.profiler.experiments.protocol import decode_stage_count, require_gpu, run_decode
    require_gpu()
    p = Progress(a.quiet).start(decode_stage_count(a.steps, a.rounds, dram_counters=a.dram_counters) + 1)
    try:
        trace, info = run_decode(a.model, a.ctx, a.mode, a.warmup, a.steps, a.trace_steps,
                                 dram_interval_ns=int(a.dram_interval_us * 1000), attn=a.attn,
                                 dtype=a.dtype, progress=p, rounds=a.rounds, sdpa_backend=a.sdpa,
                                 host_spans=a.host_spans, host_ops=a.host_ops, apis=a.apis, stage=p.stage,
                                 stack_period_ns=int(a.stack_sample_us * 1000),
                                 kernel_records=a.kernel_records, dram_counters=a.dram_counters,
                                 graph_level=a.mode == "graph" and a.kernel_records == "concurrent")
        p.stage(f"writing {out}")
        trace.save(out)
        if info.get("graph_level_trace") is not None:   # issue 28: the graph arm's launch and idle figures
            from stepscope.profiler.experiments.main_job import graph_level_path
            info["graph_level_trace"].save(graph_level_path(out))
            p(f"wrote {graph_level_path(out)} (the graph-level block)")
    finally:
        p.close()
    p(f"wrote {out}")
    return _print_report(out, a.json)


def cmd_record(a) -> int:
    out = check_writable(a.output)
    if a.repeat < 0:
        raise UsageError(f"--repeat must be 0 or more, not {a.repeat}.")
    repeats = [out.with_name(f"{out.stem}-repeat-{i + 1}{out.suffix}") for i in range(a.repeat)]
    check_not_overwriting([out, *repeats], a.force)
    from stepscope.profiler.experiments.record import parse_command, record, repeat_runs
    target = parse_command(a.command)
    kw = {"dram": a.dram, "dram_interval_ns": int(a.dram_interval_us * 1000), "apis": a.apis,
          "host_spans": a.host_spans or bool(a.step_module), "stack_period_ns": int(a.stack_sample_us * 1000)}
    say = (lambda m: None) if a.quiet else (lambda m: print(f"stepscope: {m}", file=sys.stderr))
    say(f"recording {' '.join(target.describe())}")
    trace, outcome, why = record(target, kw, a.start_after, a.duration, a.step_marker, a.step_module,
                                 warn=lambda m: print(f"stepscope: warning: {m}", file=sys.stderr),
                                 timing_only=a.timing_only)
    if trace is None:
        print(f"stepscope: the program {outcome.how}; {why}, so no trace was written.", file=sys.stderr)
        return outcome.exit_code or 2
    trace.save(out)
    say(f"the program {outcome.how}; wrote {out}")
    if a.timing_only:
        return outcome.exit_code
    if repeats:
        from stepscope.analysis.record_cost import tracer_cost
        try:
            runs = repeat_runs(target, repeats, say)
        except KeyboardInterrupt:
            print(f"stepscope: the repeat runs were interrupted; {out} holds the trace without the tracer's "
                  "cost.", file=sys.stderr)
            return 130
        graph = "CUDA-graph" in trace.meta.get("step_detection", {}).get("rule", "")
        trace.meta["record"]["tracer_cost"] = tracer_cost(trace, runs, graph=graph)
        trace.meta["record"]["tracer_cost"]["files"] = [p.name for p in repeats if p.is_file()]
        trace.save(out)
        say(f"wrote {out} again with the tracer's cost against {len(runs)} timing-only run(s): "
            f"{', '.join(p.name for p in repeats if p.is_file())}")
    if not a.quiet:
        from stepscope.analysis.facade import TraceAnalysis
        from stepscope.analysis.render.console import ConsoleRenderer
        from stepscope.analysis.render.json_report import JsonRenderer
        print((JsonRenderer() if a.json else ConsoleRenderer()).render(TraceAnalysis(trace)), file=sys.stderr)
    return outcome.exit_code


def load_trace(path, model: str | None = None, ctx: int | None = None, step_marker: str | None = None,
               step_module: str | None = None):
    """A stepscope trace or a torch.profiler trace; ``model``/``ctx`` give a Kineto
    trace the decode model its floor needs; ``step_marker``/``step_module`` find its steps
    again by that marker or module (analysis/trace/detect.py)."""
    from stepscope.analysis.trace import detect, is_kineto, load, workload
    t = load(path)
    if step_marker or step_module:
        found = detect.detect(t, marker=step_marker, module=step_module)
        if not len(found.steps.get("index", [])):
            raise UsageError(f"{path}: {found.message}.")
        detect.apply(t, found)
    if model:
        if not is_kineto(path):
            raise UsageError("--model/--ctx apply to torch.profiler traces only; a stepscope "
                             "trace records its workload.")
        from stepscope.profiler.workloads.decode import registry, resolve_config
        if "/" in model and not Path(model).exists() and model not in registry():
            _check_hub_reachable(model)
        spec = resolve_config(model)   # config.json only: never a checkpoint download
        t.meta["workload"] = workload.decode(spec.name, spec.config, ctx)
    return t


def _check_hub_reachable(model: str, timeout_s: float = 1.0) -> None:
    """Before fetching a hub id's config.json: when it is not in the local cache and the
    hub does not answer within ``timeout_s``, one sentence now rather than the download's
    retries (about 25 s of them without a network)."""
    import socket
    import threading
    from urllib.parse import urlparse
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return                      # resolve_config says so
    if constants.HF_HUB_OFFLINE or isinstance(try_to_load_from_cache(model, "config.json"), str):
        return
    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    ok = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout_s)
    if not ok:
        raise UsageError(f"cannot fetch config.json of {model!r}: {host} does not answer and it is not in the "
                         "local cache; give a config .json file or a checkpoint folder instead.")


def _print_report(path, as_json: bool, model=None, ctx=None, calibration=None, step_marker=None,
                  step_module=None) -> int:
    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.analysis.render.console import ConsoleRenderer
    from stepscope.analysis.render.json_report import JsonRenderer
    cal = _load_json(calibration, "a `stepscope calibrate` result", "achievable_bytes_per_s") \
        if calibration else None
    a = TraceAnalysis(load_trace(path, model, ctx, step_marker, step_module), calibration=cal)
    try:
        print((JsonRenderer() if as_json else ConsoleRenderer()).render(a))
    except ValueError as e:
        raise UsageError(str(e)) from None
    return 0


def cmd_report(a) -> int:
    if a.model and not a.ctx:
        raise UsageError("--model needs --ctx (the prompt length of the traced steps).")
    return _print_report(a.trace, a.json, a.model, a.ctx, a.calibration, a.step_marker, a.step_module)


def cmd_predict(a) -> int:
    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.analysis.gpu_table import load_table
    from stepscope.analysis.predict import predict
    from stepscope.analysis.render.predict import PredictJson, PredictText
    items = [TraceAnalysis(load_trace(p)) for p in a.traces]
    for it, path in zip(items, a.traces):
        it.trace.path = path
    try:
        extra = [e for f in a.gpu_spec or [] for e in load_table(f)]
        gpus = [g for g in a.gpu.split(",") if g.strip()] + [e["name"] for e in extra]
        if a.sweep:
            return _predict_sweep(a, items, gpus, extra)
        res = predict(items, gpus, host_scale=a.host_scale, extra=extra)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print((PredictJson() if a.json else PredictText()).render(res), end="" if not a.json else "\n")
    return 0


def _predict_sweep(a, items, gpus, extra) -> int:
    from stepscope.analysis.predict_sweep import predict_sweep
    from stepscope.analysis.render.predict import PredictJson, PredictSweepText
    try:
        ctxs = [int(c) for c in a.ctx.split(",") if c.strip()]
    except ValueError:
        raise UsageError(f"--ctx takes comma-separated integers, not {a.ctx!r}.") from None
    res = predict_sweep(items, gpus, ctxs, host_scale=a.host_scale, extra=extra)
    if a.figure:
        from stepscope.analysis.render.predict_figure import floor_vs_bandwidth_figure
        floor_vs_bandwidth_figure(res, a.figure)
    print((PredictJson() if a.json else PredictSweepText()).render(res), end="" if not a.json else "\n")
    return 0


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
    out = check_writable(figure_path(a.output))
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
    out = check_writable(figure_path(a.output))
    attribution_bars([TraceAnalysis(load_trace(p)) for p in a.traces], out,
                     names=[Path(p).name for p in a.traces])
    print(f"wrote {out}")
    return 0


def cmd_export(a) -> int:
    from stepscope.analysis.attribution import attribute
    from stepscope.analysis.render.perfetto import record_count, write_chrome
    out = check_writable(a.perfetto)
    trace = load_trace(a.trace)
    attr = attribute(trace) if trace.n("steps") else None
    p = Progress(a.quiet).start(record_count(trace, attr), unit="record", staged=False)
    try:
        write_chrome(trace, out, progress=lambda n, part: p.advance(n, f"writing {part}"), attr=attr)
    finally:
        p.close()
    print(f"wrote {out} (open it in ui.perfetto.dev)")
    return 0


def cmd_calibrate(a) -> int:
    out = check_writable(a.output)
    from stepscope.analysis.render.tables import calibration_text
    from stepscope.profiler.experiments.calibrate import run, stage_count
    from stepscope.profiler.experiments.protocol import require_gpu
    require_gpu()
    p = Progress(a.quiet).start(stage_count(chain=bool(a.chain)))
    try:
        res = run(chain_out=a.chain, stage=p.stage)
    finally:
        p.close()
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
                    progress=Progress(a.quiet), seed=a.seed)
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
                    a.modes.split(","), out_dir, a.warmup, a.steps, progress=Progress(a.quiet))
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
                    progress=Progress(a.quiet), trace_dir=Path(a.trace_dir) if a.trace_dir else None)
    res = quant.load_arms(out_dir, a.model, a.ctx)
    if not res:
        raise UsageError(f"{out_dir} holds no quantised-arm results for {a.model} at ctx {a.ctx}.")
    gpu = next((r["gpu"] for r in res if r.get("gpu")), "?")
    md = quant_markdown(table(res), gpu, a.model, a.ctx)
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


SHIPPED_GPU = "h100"


def _traces_dir() -> Path:
    """The shipped traces: beside the package in a clone (an editable install), else the
    current folder's traces/ (a clone installed without -e, run from its root)."""
    here = ROOT / "traces"
    cwd = Path.cwd() / "traces"
    return here if here.is_dir() or not cwd.is_dir() else cwd


def _shown(path: Path) -> str:
    """A shipped trace's path as the user can type it: from the clone's root (beside the
    package, or the current folder when the package is installed elsewhere), else whole."""
    for base in (ROOT, Path.cwd()):
        try:
            return str(path.relative_to(base))
        except ValueError:
            pass
    return str(path)


def _shipped_traces(model: str, ctx: int, modes: list[str]) -> list[Path]:
    paths = [_traces_dir() / f"{model}-ctx{ctx}-{m}-{SHIPPED_GPU}.stepscope" for m in modes]
    if all(p.is_file() for p in paths):
        return paths
    nearest = _nearest_shipped(model, ctx, modes)
    if nearest is None:
        raise UsageError(f"no GPU here, and no shipped traces of {', '.join(modes)} in {_traces_dir()} "
                         "(they come with a clone of the repository: run stepscope from its root).")
    raise UsageError(f"no GPU here, and the shipped traces do not cover {model} at ctx {ctx} in {', '.join(modes)}; "
                     f"the nearest shipped: --model {nearest[0]} --ctx {nearest[1]}.")


def _nearest_shipped(model: str, ctx: int, modes: list[str]) -> tuple[str, int] | None:
    """The shipped (model, ctx) with traces of every mode asked: the same model first (a
    hub id such as Qwen/Qwen2.5-7B matches its registry name, qwen2.5-7b), then the nearest
    ctx."""
    import re
    model = model.rpartition("/")[2].lower()
    have: dict[tuple[str, int], set[str]] = {}
    for p in _traces_dir().glob(f"*-ctx*-{SHIPPED_GPU}.stepscope"):
        m = re.fullmatch(rf"(.+)-ctx(\d+)-(eager|eager-static|graph)-{SHIPPED_GPU}\.stepscope", p.name)
        if m and not m.group(1).startswith("quant-"):
            have.setdefault((m.group(1), int(m.group(2))), set()).add(m.group(3))
    ok = [k for k, v in have.items() if set(modes) <= v]
    return min(ok, key=lambda k: (k[0] != model, abs(k[1] - ctx), k)) if ok else None


def _gpu_here() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


#: The largest node gap the main job takes (1 ms: a thousand times a real one).
MAX_NODE_GAP_NS = 1_000_000


def _calibrations(a) -> list[dict] | None:
    """The main job's --calibration files, read before any work; None without one."""
    if a.node_gap_ns is not None and a.calibration:
        raise UsageError("give --node-gap-ns or --calibration, not both.")
    if a.node_gap_ns is not None and not 0 <= a.node_gap_ns <= MAX_NODE_GAP_NS:   # also refuses nan
        raise UsageError(f"--node-gap-ns takes a gap in ns in 0..{MAX_NODE_GAP_NS}, not {a.node_gap_ns:g}.")
    return [_load_json(c, "a `stepscope calibrate` result", "launch") for c in a.calibration] if a.calibration else None


def _node_gaps(a, cal: list[dict] | None, gpu: str):
    """The main job's node-gap estimates and their source from --node-gap-ns or
    --calibration; (None, None): the graph trace's own."""
    if a.node_gap_ns is not None:
        return [a.node_gap_ns], "given with --node-gap-ns"
    if cal:
        from stepscope.analysis.results.ab import NODE_GAP_SOURCE
        from stepscope.profiler.experiments.ab import node_gaps_ns
        return node_gaps_ns(cal, gpu), NODE_GAP_SOURCE
    return None, None


def cmd_default(a) -> int:
    """The main job: on a GPU, build the model once and trace it in both modes; without
    one, use the shipped traces. Then compare the two arms, print the comparison and a
    verdict, and draw the two-lane timeline next to the traces."""
    modes = a.modes.split(",")
    if len(modes) != 2 or len(set(modes)) != 2 or any(m not in ("eager", "eager-static", "graph") for m in modes):
        raise UsageError(f"--modes takes two different modes of eager, eager-static, graph, not {a.modes!r}.")
    if a.ctx < 1 or a.steps < 1 or a.trace_steps < 1 or a.warmup < 0:
        raise UsageError("--ctx, --steps and --trace-steps must be at least 1, --warmup at least 0.")
    cal = _calibrations(a)
    out_dir = Path(a.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"-o {out_dir} is a file; the main job writes a folder (traces and the timeline).")
    if not out_dir.is_dir():
        check_writable(out_dir)
        out_dir.mkdir()
    check_writable(out_dir / "probe")
    t0 = time.perf_counter()
    gpu = not a.shipped and _gpu_here()
    p = Progress(a.quiet)
    try:
        if gpu:
            from stepscope.profiler.experiments.main_job import run_arms, stage_count
            p.start(stage_count(modes, a.steps, a.trace_steps) + 2)
            paths = run_arms(a.model, a.ctx, modes, out_dir, a.warmup, a.steps, a.trace_steps,
                             progress=p, stage=p.stage)
            source = "traced now"
        else:
            paths = _shipped_traces(a.model, a.ctx, modes)
            why = "--shipped" if a.shipped else "no CUDA GPU here"
            p(f"{why}; comparing the shipped traces {_shown(paths[0])} and {_shown(paths[1])}")
            source = f"shipped traces recorded on an {SHIPPED_GPU.upper()}, not this machine"
            p.start(2)
        from stepscope.analysis.compare_modes import compare
        from stepscope.analysis.facade import TraceAnalysis
        from stepscope.analysis.render.figures import timeline
        from stepscope.analysis.render.main_job import render
        p.stage("comparing the arms")
        base, arm = (TraceAnalysis(x) for x in paths)
        try:
            res = compare(base, arm, *_node_gaps(a, cal, base.get_summary()["gpu"]))
        except ValueError as e:
            raise UsageError(str(e)) from None
        fig = out_dir / f"timeline-{res['model']}-ctx{res['ctx']}-{modes[0]}-vs-{modes[1]}.png"
        p.stage("drawing the timeline")
        timeline([base, arm], fig)
    finally:
        p.close()
    p(f"done in {time.perf_counter() - t0:.0f} s")
    if a.json:
        from stepscope.analysis.render.main_job import render_json
        print(render_json(res, traces=[str(p) for p in paths], timeline=str(fig)))
    else:
        print(render(res, source, explain=a.explain))
        print(f"\nwrote {fig}" + ("" if not gpu else f" and the traces {paths[0]}, {paths[1]}"))
    return 0


# -- parser -----------------------------------------------------------------------
MODEL_HELP = ("decode model: a registry name (qwen2.5-7b, llama-3.1-8b, mistral-7b-v0.3, mistral-7b-v0.1), "
              "a local checkpoint folder, a config .json, or a hub id org/name")
CTX_HELP = "prompt tokens in the KV cache before the decode steps (tokens)"


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help with each option's default (when it has one) and epilogs kept as written."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _parser(sub, name: str, help: str, example: str, **kw) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help, epilog=f"example:\n  {example}",
                          formatter_class=_Help, **kw)


def _experiment_parent() -> argparse.ArgumentParser:
    """Options that ab, sweep and quant share, with the same meaning everywhere."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--warmup", type=int, default=5, help="untimed warm-up decode steps per arm (steps)")
    p.add_argument("--steps", type=int, default=30, help="timed, untraced decode steps per arm (steps)")
    p.add_argument("--report-only", action="store_true", help="summarise the results already in -o; no GPU")
    p.add_argument("--force", action="store_true", help="with --report-only: overwrite the summaries already there")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    return p


def _add_trace(sub) -> None:
    from stepscope.profiler.workloads.decode import SDPA_BACKENDS  # names only: no torch
    t = _parser(sub, "trace", "run a decode workload on the GPU and trace it (GPU)",
                "stepscope trace --model qwen2.5-7b --ctx 2048 --mode graph -o graph.stepscope")
    t.add_argument("--model", default="qwen2.5-7b", help=MODEL_HELP)
    t.add_argument("--ctx", type=int, default=2048, help=CTX_HELP)
    t.add_argument("--mode", default="eager", choices=("eager", "eager-static", "graph"),
                   help="eager: dynamic cache; eager-static: static cache; graph: the eager-static step replayed "
                        "as a CUDA graph")
    t.add_argument("--warmup", type=int, default=5, help="untimed warm-up decode steps (steps)")
    t.add_argument("--steps", type=int, default=30, help="timed, untraced decode steps: the headline median (steps)")
    t.add_argument("--trace-steps", type=int, default=5,
                   help="traced decode steps per round written to the file (steps)")
    t.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds of untraced and traced steps; the trace records the tracer's "
                        "perturbation measured over them (rounds)")
    t.add_argument("--sdpa", default="default", choices=SDPA_BACKENDS,
                   help="SDPA backends torch may use: default (torch's choice), no-cudnn (exclude cuDNN attention), "
                        "or one backend")
    t.add_argument("--apis", default="host", choices=("launch", "host"),
                   help="runtime/driver calls recorded: launch (launches, copies, syncs) or host (also module "
                        "loads, allocations, events, graph and stream calls)")
    t.add_argument("--host-spans", action="store_true",
                   help="record nn.Module forwards as host spans, so the report names the module behind each "
                        "launch-bound gap (opt-in: +21 points on an H100 eager-static step, "
                        "benchmarks/results/capture_parts-*.json)")
    t.add_argument("--stack-sample-us", type=float, default=0.0,
                   help="sample the Python stack of the launching thread every N microseconds (0: off; at least "
                        "50); the report then names the source lines behind the launch-bound idle")
    t.add_argument("--kernel-records", default="concurrent", choices=("concurrent", "graph"),
                   help="concurrent: one record per kernel; graph (with --mode graph only): one record per CUDA-graph "
                        "replay, no per-kernel times, and a traced step within 3%% of untraced on the H100 and H200 "
                        "(benchmarks/results/graph-level-*)")
    t.add_argument("--host-ops", action="store_true",
                   help="also record every torch function called from Python as a host span (costly: opt-in)")
    t.add_argument("--dram-interval-us", type=float, default=20.0,
                   help="DRAM counter (PM sampling) interval (microseconds)")
    t.add_argument("--dram-counters", type=int, default=0, metavar="N",
                   help="after the traced steps, N untimed steps under CUPTI's range profiler (kernel replay): "
                        "exact DRAM bytes per kernel (the kernel_dram table), which the report then prefers")
    t.add_argument("--attn", default="sdpa", help="transformers attention implementation (sdpa, eager, ...)")
    t.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16"), help="weight and KV dtype")
    t.add_argument("-o", "--output", default="trace.stepscope", help="trace file to write (.stepscope)")
    t.add_argument("--quiet", action="store_true", help="no progress messages")
    t.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    t.set_defaults(fn=cmd_trace)


STEP_MARKER_HELP = ("find the steps by this marker: a record_function / NVTX / user span name; each span is "
                    "one step")
STEP_MODULE_HELP = ("find the steps by this nn.Module: each forward of a module of this name (e.g. lm_head) "
                    "ends a step; needs host spans")


def _add_record(sub) -> None:
    r = _parser(sub, "record", "run your own program under the tracer and find its decode steps (GPU)",
                "stepscope record -o gen.stepscope -- python examples/hf_generate.py --mode eager")
    r.add_argument("command", nargs=argparse.REMAINDER,
                   help="the program after --: python app.py [args], python -m module [args]")
    r.add_argument("-o", "--output", default="record.stepscope", help="trace file to write (.stepscope)")
    r.add_argument("--force", action="store_true", help="overwrite the output file")
    r.add_argument("--apis", default="host", choices=("launch", "host"),
                   help="runtime/driver calls recorded (as for trace)")
    r.add_argument("--host-spans", action="store_true", help="record nn.Module forwards as host spans (as for trace)")
    r.add_argument("--stack-sample-us", type=float, default=0.0,
                   help="sample the launching thread's Python stack every N microseconds (0: off)")
    r.add_argument("--dram", action="store_true",
                   help="PM-sample DRAM counters over the whole run (off by default: a long program overflows the "
                        "hardware buffer, which the report then flags)")
    r.add_argument("--dram-interval-us", type=float, default=100.0, help="DRAM sampling interval (microseconds)")
    r.add_argument("--start-after", type=float, default=None, metavar="S",
                   help="keep the steps that start S seconds or more after the program started (seconds)")
    r.add_argument("--duration", type=float, default=None, metavar="S",
                   help="keep the steps that start within S seconds of the window's start (seconds)")
    r.add_argument("--step-marker", default=None, metavar="NAME", help=STEP_MARKER_HELP)
    r.add_argument("--step-module", default=None, metavar="NAME", help=STEP_MODULE_HELP)
    r.add_argument("--repeat", type=int, default=0, metavar="N",
                   help="then run the program N more times, each in a fresh process under a timing-only tracer "
                        "(memory copies only), and report what the tracer cost per decode step and end to end; "
                        "their traces are written beside the output as NAME-repeat-K.stepscope (default 0)")
    r.add_argument("--timing-only", action="store_true",
                   help="what --repeat's runs use: trace memory copies only, find no steps (the tracer's cost)")
    r.add_argument("--quiet", action="store_true", help="no messages and no report (the trace is still written)")
    r.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    r.set_defaults(fn=cmd_record)


def _add_readers(sub) -> None:
    r = _parser(sub, "report", "attribute a recorded trace (no GPU needed)",
                "stepscope report traces/qwen2.5-7b-ctx2048-graph-h100.stepscope")
    r.add_argument("trace", help="a .stepscope trace, or a torch.profiler .json/.json.gz trace")
    r.add_argument("--json", action="store_true", help="print every table as JSON instead of text")
    r.add_argument("--model", help="torch.profiler traces only: " + MODEL_HELP +
                   "; gives the floor (a hub id fetches config.json only)")
    r.add_argument("--ctx", type=int, help="torch.profiler traces only, with --model: " + CTX_HELP)
    r.add_argument("--calibration", help="a `stepscope calibrate` JSON of the same GPU: adds the achievable floor")
    r.add_argument("--step-marker", default=None, metavar="NAME", help=STEP_MARKER_HELP)
    r.add_argument("--step-module", default=None, metavar="NAME", help=STEP_MODULE_HELP)
    r.set_defaults(fn=cmd_report)
    tl = _parser(sub, "timeline", "launch-gap timeline figure (PNG, SVG or PDF)",
                 "stepscope timeline traces/qwen2.5-7b-ctx2048-eager-static-h100.stepscope "
                 "traces/qwen2.5-7b-ctx2048-graph-h100.stepscope -o timeline.png")
    tl.add_argument("traces", nargs="+", help="one trace, or two (e.g. eager and graph) on one time scale")
    tl.add_argument("-o", "--output", required=True, help="figure file (.png, .svg or .pdf; .png added when no suffix)")
    tl.add_argument("--step", type=int, help="step index to draw (default: the median-duration step)")
    tl.add_argument("--window", help="START:END to draw, in ms from the step start (default: the whole step)")
    tl.add_argument("--width", type=int, default=1800, help="figure width (pixels)")
    tl.set_defaults(fn=cmd_timeline)
    b = _parser(sub, "bars", "stacked attribution bars for several traces (PNG, SVG or PDF)",
                "stepscope bars traces/qwen2.5-7b-ctx2048-*-h100.stepscope -o bars.png")
    b.add_argument("traces", nargs="+", help="traces, one bar per trace and mode")
    b.add_argument("-o", "--output", required=True, help="figure file (.png, .svg or .pdf; .png added when no suffix)")
    b.set_defaults(fn=cmd_bars)
    e = _parser(sub, "export", "export a trace for Perfetto UI",
                "stepscope export traces/qwen2.5-7b-ctx2048-graph-h100.stepscope -o graph.json")
    e.add_argument("trace", help="a .stepscope or torch.profiler trace")
    e.add_argument("-o", "--output", "--perfetto", dest="perfetto", required=True,
                   help="Chrome trace-event JSON to write (open it in ui.perfetto.dev)")
    e.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    e.set_defaults(fn=cmd_export)
    cp = _parser(sub, "compare", "merge sweeps of several GPUs",
                 "stepscope compare benchmarks/results/sweep-h100 benchmarks/results/sweep-h200 -o compare")
    cp.add_argument("dirs", nargs="+", help="`stepscope sweep` output folders, one per GPU")
    cp.add_argument("-o", "--output", help="writes OUTPUT.json and OUTPUT.png (default: print only)")
    cp.set_defaults(fn=cmd_compare)
    pr = _parser(sub, "predict", "predict a recorded decode step on other GPUs (no GPU needed)",
                 "stepscope predict traces/qwen2.5-7b-ctx2048-graph-counters-h100.stepscope "
                 "traces/qwen2.5-7b-ctx2048-eager-static-counters-h100.stepscope --gpu L4,H200")
    pr.add_argument("traces", nargs="+", help="decode traces (.stepscope) of one GPU; a graph and an eager(-static) "
                    "trace of one workload also give the predicted graph speedup")
    pr.add_argument("--gpu", default="L4,L40S,A100-80GB SXM,A100-40GB,H100 SXM,H100 PCIe,H200",
                    help="comma-separated target GPUs, by table name or alias (analysis/gpus.json)")
    pr.add_argument("--gpu-spec", action="append",
                    help="a JSON GPU entry (or table) for a GPU not in the table, every figure with its source; "
                         "repeatable; its GPUs are added to the targets")
    pr.add_argument("--host-scale", type=float, default=1.0,
                    help="host time per step on the target machine relative to the source's (1: the same host)")
    pr.add_argument("--json", action="store_true", help="print the prediction as JSON")
    pr.add_argument("--sweep", action="store_true",
                    help="predict over a ctx grid from each trace (its attention and KV-copy kernels scaled to each ctx)")
    pr.add_argument("--ctx", default="2048,4096,8192,16384", help="with --sweep: comma-separated context lengths")
    pr.add_argument("--figure", help="with --sweep: write the figure %% of floor vs peak bandwidth (.png/.svg/.pdf)")
    pr.set_defaults(fn=cmd_predict)


def _add_experiments(sub) -> None:
    from stepscope.profiler.workloads.quantize import ARMS  # names only: no torch
    common = _experiment_parent()
    c = _parser(sub, "calibrate", "the GPU's launch and bandwidth limits (GPU)",
                "stepscope calibrate -o calibration.json --chain chain.stepscope")
    c.add_argument("-o", "--output", default="calibration.json", help="calibration JSON to write")
    c.add_argument("--chain", help="also trace the ground-truth kernel chain into this .stepscope file")
    c.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    c.set_defaults(fn=cmd_calibrate)
    ab = _parser(sub, "ab", "eager vs CUDA graph over fresh sessions, bootstrap CI (GPU)",
                 "stepscope ab --sessions 10 --arms eager-static,graph -o ab", parents=[common])
    ab.add_argument("--model", default="qwen2.5-7b", help=MODEL_HELP)
    ab.add_argument("--ctx", type=int, default=2048, help=CTX_HELP)
    ab.add_argument("--sessions", type=int, default=10, help="fresh processes, each running every arm (sessions)")
    ab.add_argument("--arms", default="eager-static,graph",
                    help="comma-separated arms of eager-static, graph, eager, compile; the first is the baseline")
    ab.add_argument("--calibration", action="append",
                    help="calibration JSON of the same GPU (repeat for several runs): its untraced graph cost per node "
                         "(ns) is the node gap of the prediction")
    ab.add_argument("--seed", type=int, default=0, help="seeds each session's shuffled arm order (recorded)")
    ab.add_argument("-o", "--output", default="ab", help="folder for session results, summary.json and ab.png")
    ab.set_defaults(fn=cmd_ab)
    sw = _parser(sub, "sweep", "the paper's grid, one fresh process per cell (GPU)",
                 "stepscope sweep --models qwen2.5-7b --ctx 2048,4096 --modes eager,graph -o sweep", parents=[common])
    sw.add_argument("--models", default="qwen2.5-7b,llama-3.1-8b,mistral-7b-v0.3",
                    help="comma-separated decode models (registry names, folders or config .json)")
    sw.add_argument("--ctx", default="2048,4096,8192,16384", help="comma-separated prompt lengths (tokens)")
    sw.add_argument("--modes", default="eager,graph", help="comma-separated modes of eager, eager-static, graph")
    sw.add_argument("-o", "--output", default="sweep", help="folder for cells/, cells.csv, table.md and figures")
    sw.set_defaults(fn=cmd_sweep)
    q = _parser(sub, "quant", "quantised weight paths vs bf16: bytes saved vs time saved (GPU)",
                "stepscope quant --arms bf16,bnb-nf4 -o quant", parents=[common])
    q.add_argument("--model", default="qwen2.5-7b", help=MODEL_HELP)
    q.add_argument("--ctx", type=int, default=2048, help=CTX_HELP)
    q.add_argument("--arms", default="bf16,bnb-nf4,torchao-int8wo,torchao-int4wo",
                   help=f"comma-separated weight paths to compare, of {', '.join(ARMS)} (gptq-exllamav2 and "
                        "awq-marlin need extensions built first: docs/quant-build.md)")
    q.add_argument("-o", "--output", default="quant", help="folder for one result per arm and table.md")
    q.add_argument("--trace-dir", default=None,
                   help="also keep each arm's traced steps there, one .stepscope file per arm and mode "
                        "(their kernel names show which library kernel ran)")
    q.set_defaults(fn=cmd_quant)


def _add_main_job(ap: argparse.ArgumentParser) -> None:
    """Options of `stepscope` with no subcommand (the main job)."""
    ap.add_argument("--version", action="version", version=f"stepscope {__version__}")
    ap.add_argument("--model", default="qwen2.5-7b", help=MODEL_HELP)
    ap.add_argument("--ctx", type=int, default=2048, help=CTX_HELP)
    ap.add_argument("--modes", default="eager-static,graph",
                    help="two of eager, eager-static, graph; the baseline is the one that is not a graph replay (of "
                         "two such, the slower), in either order; the table's columns follow the order given")
    ap.add_argument("--warmup", type=int, default=5, help="untimed warm-up decode steps per mode (steps)")
    ap.add_argument("--steps", type=int, default=30, help="timed, untraced decode steps per mode (steps)")
    ap.add_argument("--trace-steps", type=int, default=5, help="traced decode steps per mode (steps)")
    ap.add_argument("--node-gap-ns", type=float,
                    help="graph per-node gap for the prediction, fixed (ns; default: the graph trace's median internal gap)")
    ap.add_argument("--calibration", action="append",
                    help="calibration JSON of the trace's GPU (repeat for several runs): its untraced graph cost per node "
                         "(ns) is the node gap, as in `stepscope ab`")
    ap.add_argument("--shipped", action="store_true", help="compare the shipped H100 traces even on a GPU")
    ap.add_argument("-o", "--output", default="stepscope-run", help="folder for the two traces and the timeline PNG")
    ap.add_argument("--json", action="store_true", help="print the comparison as JSON instead of text")
    ap.add_argument("--explain", action="store_true",
                    help="also print the speedups, the node gap and the decision rule in full sentences")
    ap.add_argument("--quiet", action="store_true", help="no progress bar or messages")


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations at the top level: its main-job options (--model, --modes) would make a
    # subcommand's --mode "ambiguous" before the subcommand ever sees it.
    ap = argparse.ArgumentParser(
        prog="stepscope", formatter_class=_Help, allow_abbrev=False,
        description="Where does a batch-1 decode step's time go?\n\nWith no subcommand (the main job): trace the "
                    "default model eagerly (static cache) and\nas a CUDA-graph replay on this GPU, or compare the "
                    "shipped H100 traces without one;\nprint both attributions, the predicted and measured graph "
                    "speedup and a verdict,\nand draw the two-lane timeline.",
        epilog="examples:\n  stepscope\n  stepscope --model llama-3.1-8b --ctx 4096\n"
               "  stepscope report traces/qwen2.5-7b-ctx2048-graph-h100.stepscope")
    inputs.add_options(ap)
    _add_main_job(ap)
    sub = ap.add_subparsers(dest="cmd", title="subcommands", metavar="COMMAND")
    _add_trace(sub)
    _add_record(sub)
    _add_readers(sub)
    _add_experiments(sub)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    from stepscope.analysis.trace import TraceFileError
    from stepscope.analysis.trace.atomic import WriteError
    from stepscope.profiler.errors import USER_ERRORS
    inputs.on_signals()
    try:
        inputs.check_args(a)
        if a.cmd is None:
            return _flushed(cmd_default(a))
        for name in ("ctx", "steps", "trace_steps", "sessions", "warmup", "rounds"):
            if isinstance(getattr(a, name, None), int) and getattr(a, name) < (0 if name == "warmup" else 1):
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1.")
        return _flushed(a.fn(a))
    except (UsageError, inputs.InputError, TraceFileError, WriteError, *USER_ERRORS) as e:
        print(f"stepscope: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except OSError as e:
        if not inputs.is_stdout_error(e):
            raise
        print(f"stepscope: cannot write the standard output ({e.strerror or type(e).__name__}).", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stepscope: {inputs.interrupted(a)}", file=sys.stderr)
        return 130


def _flushed(rc: int) -> int:
    """Flush what the command printed now, so a full disk or a closed pipe on the standard
    output is reported here, not as an error at exit."""
    sys.stdout.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())
