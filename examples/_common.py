"""Shared by the examples: the model (a registry name with random weights, or a local
checkpoint folder), a random prompt, and an optional plain torch.profiler around a call."""
from __future__ import annotations

import argparse
import contextlib


def parser(description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", default="qwen2.5-7b",
                    help="a stepscope registry name (random bf16 weights) or a local checkpoint folder")
    ap.add_argument("--ctx", type=int, default=2048, help="prompt length (tokens)")
    ap.add_argument("--new-tokens", type=int, default=32, help="tokens to generate (one prefill + N-1 decode steps)")
    ap.add_argument("--device", default="cuda", help="cuda (cpu runs the examples' tests with a tiny model)")
    ap.add_argument("--torch-profiler", metavar="FILE", default=None,
                    help="also write a plain torch.profiler trace of the run (CPU + CUDA, no schedule) to FILE "
                         "(.json or .json.gz); not together with stepscope record (one CUPTI client per process)")
    return ap


def model_and_prompt(name: str, ctx: int, device: str = "cuda"):
    import torch

    from stepscope.profiler.workloads.decode import build_model, resolve_model
    model = build_model(resolve_model(name), device=device)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (1, ctx), generator=g).to(device)
    return model, ids


@contextlib.contextmanager
def torch_profiler(path: str | None, mark_steps: bool = False):
    """A plain torch.profiler over the block when ``path`` is given; yields a ``step()``
    callable (records ProfilerStep#N markers only when ``mark_steps``)."""
    if not path:
        yield lambda: None
        return
    import torch
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        yield prof.step if mark_steps else (lambda: None)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    prof.export_chrome_trace(path)
