"""`stepscope ab`: eager vs CUDA-graph (and torch.compile) over fresh sessions.

Run: each session is a fresh process (``runner``) that builds the model anew and runs
every arm, in an order shuffled per session (``arm_order``: seeded by ``session_seed``,
both recorded in the session file), with the protocol (warm-up, then measured steps untouched by the tracer), plus
one traced step per arm for its attribution; ``DIR/session-NN.json`` is written
atomically as each finishes, and a rerun skips the sessions already there (resume).
Load: ``load_sessions``. Summarise: ``stepscope.analysis.results.ab.summarize``.
"""
from __future__ import annotations

import json
import os
import random
import statistics
import time
from pathlib import Path

from stepscope.analysis.trace.atomic import write_json

from .files import read_session, require_one_workload
from .runner import each, run_fresh

ARMS = ("eager-static", "graph", "eager", "compile")


def session_seed(seed: int, index: int) -> int:
    """The seed of session ``index`` of an A/B run with ``seed``."""
    return seed * 1000 + index


def arm_order(arms: list[str], seed: int) -> list[str]:
    """``arms`` shuffled by ``seed`` (the same seed always gives the same order)."""
    order = list(arms)
    random.Random(seed).shuffle(order)
    return order


def run_session(model: str, ctx: int, arms: list[str], warmup: int, steps: int,
                seed: int | None = None) -> dict:
    """One fresh-process session: every arm in ``arm_order(arms, seed)`` (listed order when
    ``seed`` is None)."""
    import torch

    from stepscope.analysis.facade import TraceAnalysis

    from ..workloads.decode import Decoder, build_model, param_bytes, resolve_model
    from .protocol import decode_workload, measure, require_gpu
    require_gpu()
    spec = resolve_model(model)
    t0 = time.perf_counter()
    net = build_model(spec)
    out = {"model": spec.name, "ctx": ctx, "gpu": torch.cuda.get_device_name(),
           "build_s": time.perf_counter() - t0, "arms": {}, "pid": os.getpid(),
           "seed": seed, "arm_order": list(arms) if seed is None else arm_order(arms, seed)}
    for arm in out["arm_order"]:
        dec = Decoder(net, ctx, "eager-static" if arm == "compile" else arm, warmup + steps + 12)
        dec.prefill()
        if arm == "compile":
            step = _compiled_step(dec)
        else:
            dec.capture()
            step = dec.step
        ns, trace = measure(step, arm, warmup, steps, 1, warn=lambda m: None)
        trace.meta["workload"] = decode_workload(spec, dec, 1, param_bytes(net), mode=arm)
        s = TraceAnalysis(trace).get_steps()
        out["arms"][arm] = {"step_ns": ns, "median_ms": statistics.median(ns) / 1e6,
                            "traced": {k: int(s[k][0]) for k in (
                                "step_ns", "busy_ns", "floor_ns", "launch_overhead_ns",
                                "other_idle_ns", "kernels", "launch_calls")}}
        del dec
    return out


def _compiled_step(dec):
    """The eager-static step under torch.compile(mode='reduce-overhead'): fused kernels,
    replayed through CUDA graphs by inductor."""
    import torch
    model = dec.model
    fwd = torch.compile(model.forward, mode="reduce-overhead", fullgraph=False)

    def step():
        with torch.inference_mode():
            out = fwd(input_ids=dec.tok, **{dec.cache_kw: dec.cache}, cache_position=dec.pos,
                      position_ids=dec.pos.unsqueeze(0), use_cache=True)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            dec.tok.copy_(nxt)
            dec.pos.add_(1)
        dec.steps_done += 1
    return step


def run_ab(model: str, ctx: int, sessions: int, arms: list[str], out_dir: Path,
           warmup: int = 5, steps: int = 30, progress=print, timeout_s: int = 1800,
           seed: int = 0) -> list[dict]:
    """Run the missing sessions, each in a fresh process with its own arm order (seeded by
    ``session_seed(seed, i)``); return all session results."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = {"model": model, "ctx": ctx, "arms": arms, "warmup": warmup, "steps": steps, "seed": seed}
    spec_path = out_dir / "ab.json"
    if spec_path.exists():
        old = json.loads(spec_path.read_text())
        if any(old.get(k) != v for k, v in spec.items()):
            raise ValueError(f"{out_dir} holds an A/B with other settings ({old}); use another folder.")
    else:
        write_json(spec_path, spec)
    todo = [i for i in range(sessions) if not (out_dir / f"session-{i:02d}.json").exists()]
    for i in each(todo, progress, lambda i: f"session {i + 1}/{sessions}"):
        run_fresh("ab:run_session", {"model": model, "ctx": ctx, "arms": arms, "warmup": warmup,
                                     "steps": steps, "seed": session_seed(seed, i)},
                  out_dir / f"session-{i:02d}.json", None, f"session {i}", timeout_s)
    return load_sessions(out_dir)


def node_gaps_ns(calibrations: list[dict], gpu: str) -> list[float]:
    """The node-gap estimates of ``gpu``: the untraced per-node cost of a 1000-node graph of
    null kernels from each `stepscope calibrate` run (``analysis.results.ab`` says why)."""
    other = sorted({c["gpu"]["name"] for c in calibrations if c["gpu"]["name"] != gpu})
    if other:
        raise ValueError(f"the calibration is of {', '.join(other)}, the measurement of {gpu}: "
                         "give a calibration of the same GPU.")
    return [float(c["launch"]["1000"]["graph_ns_per_node"]) for c in calibrations]


def summarise(out_dir: Path, arms: list[str], calibrations: list[dict] | None = None) -> dict:
    """The A/B summary of the sessions in ``out_dir``: the first arm is the baseline of
    each other arm; the node gap comes from ``calibrations`` (none: no prediction)."""
    from stepscope.analysis.results.ab import summarize
    sessions = load_sessions(out_dir)
    if not sessions:
        raise ValueError(f"{out_dir} holds no A/B sessions.")
    gaps = node_gaps_ns(calibrations or [], sessions[0]["gpu"])
    res = {arm: summarize(sessions, arms[0], arm, gaps) for arm in arms[1:]}
    title = f"{sessions[0]['model']} ctx {sessions[0]['ctx']} on {sessions[0]['gpu']}"
    return {"summaries": res, "title": title}


def load_sessions(out_dir: Path) -> list[dict]:
    """The session results in ``out_dir``, in session order."""
    paths = sorted(Path(out_dir).glob("session-*.json"))
    sessions = [read_session(p) for p in paths]
    require_one_workload(list(zip(paths, sessions)))
    return sessions
