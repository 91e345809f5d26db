"""The one builder of ``meta["workload"]``: what ran, which the floor and the attribution
read. Every capture path and importer calls these; ``traces/FORMAT.md`` documents the keys.

- ``decode``: a batch-1 decode of a transformer. ``config`` is the model's config.json;
  ``first_traced_position`` the KV positions already cached when the first traced step
  ran (the floor of later steps adds one token each). Sizes measured from the model, when
  known (``param_count``, ``param_bytes``, ``input_embedding_bytes``,
  ``tied_embeddings``, ``embedding_row_bytes``), override the config's arithmetic.
- ``constructed``: a workload whose DRAM bytes per step are known by construction
  (``bytes_per_step``), e.g. the calibration chain and the synthetic step.
"""
from __future__ import annotations

#: Keys measured from a built model (``param_bytes`` in profiler/workloads/decode.py).
SIZE_KEYS = ("param_count", "param_bytes", "input_embedding_bytes", "tied_embeddings",
             "embedding_row_bytes")


def decode(model: str, config: dict, ctx: int, *, mode: str | None = None,
           next_position: int | None = None, traced_steps: int = 0,
           sizes: dict | None = None, positions: list[int] | None = None, **extra) -> dict:
    """A decode workload. ``positions``: each traced step's KV position, in step order
    (``traced_positions``; protocols that interleave untraced steps record them). Else
    ``next_position``: the decoder's position after the traced steps (ctx + steps run);
    the first traced step ran at ``next_position - traced_steps`` and the others followed.
    Without either (an imported trace), the first traced step is taken to run at ``ctx``."""
    first = ctx if next_position is None else int(next_position) - int(traced_steps)
    wl = {"kind": "decode", "model": model, "config": config, "ctx": ctx,
          "first_traced_position": first}
    if positions:
        wl["first_traced_position"] = int(positions[0])
        wl["traced_positions"] = [int(p) for p in positions]
    if mode is not None:
        wl["mode"] = mode
    wl.update({k: v for k, v in (sizes or {}).items() if k in SIZE_KEYS})
    wl.update(extra)
    return wl


def constructed(kind: str, bytes_per_step: int, description: str, **extra) -> dict:
    """A workload whose bytes per step are known by construction."""
    return {"kind": kind, "bytes_per_step": int(bytes_per_step), "description": description, **extra}
