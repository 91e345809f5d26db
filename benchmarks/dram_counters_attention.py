"""Why the counter pass's attention bytes differ from Nsight Compute's (issue 15): one A/B per
factor, in one process, on Qwen2.5-7B ctx 2048 eager-static. Each arm prefills a fresh
decoder, runs steps, and traces one step followed by one counter pass (``measure(...,
dram_counters=1)``); the arms differ only in the static cache's length and the KV position
of the profiled step:

  ncu       cache 2060, position 2051: the state ncu profiled (benchmarks/dram_validation.py)
  cache     cache 2095, position 2051: the committed trace's cache length, ncu's position
  position  cache 2095, position 2087: the committed trace's state (both changed)

    python3 benchmarks/dram_counters_attention.py --out DIR --tag h100

Prints the attention and copy classes' DRAM read bytes per arm, last, and writes
``dram_counters_attention-TAG.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ARMS = {"ncu": (12, 0), "cache": (47, 0), "position": (47, 36)}   # max_new_tokens, steps before


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="dram-counters-attention")
    ap.add_argument("--tag", default="h100")
    a = ap.parse_args(argv)
    import torch

    from stepscope.analysis.facade import TraceAnalysis
    from stepscope.profiler.experiments.protocol import measure
    from stepscope.profiler.workloads.decode import Decoder, build_model, resolve_model
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = resolve_model("qwen2.5-7b")
    net = build_model(spec, device="cuda", dtype="bfloat16", attn="sdpa")
    res = {"tag": a.tag, "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "arms": {}}
    for name, (new_tokens, before) in ARMS.items():
        dec = Decoder(net, 2048, "eager-static", new_tokens)
        dec.prefill()
        for _ in range(before):
            dec.step()
        torch.cuda.synchronize()
        _, t = measure(dec.step, "eager-static", warmup=0, steps=1, trace_steps=1, dram_counters=1)
        pass_position = dec.position - 1            # the counter pass ran the last step
        d = TraceAnalysis(t).get_dram_kernels()
        cls = dict(zip(d["classes"]["class"], d["classes"]["read_bytes_per_step"]))
        res["arms"][name] = {"max_cache_len": dec.max_cache_len, "pass_position": pass_position,
                             "source": d["source"], "attention_read_bytes": cls.get("attention"),
                             "copy_read_bytes": cls.get("copy"), "gemm_read_bytes": cls.get("gemm"),
                             "kernel_dram": t.meta["capture"]["kernel_dram"]}
        t.save(out / f"attention-{name}-{a.tag}.stepscope")
        del dec
        torch.cuda.empty_cache()
    (out / f"dram_counters_attention-{a.tag}.json").write_text(json.dumps(res, indent=1, default=str))
    print(f"{'arm':10s} {'cache':>6s} {'position':>9s} {'attention MB':>13s} {'copy MB':>8s} {'gemm MB':>9s}")
    for name, r in res["arms"].items():
        print(f"{name:10s} {r['max_cache_len']:6d} {r['pass_position']:9d} {(r['attention_read_bytes'] or 0) / 1e6:13.1f} "
              f"{(r['copy_read_bytes'] or 0) / 1e6:8.1f} {(r['gemm_read_bytes'] or 0) / 1e6:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
