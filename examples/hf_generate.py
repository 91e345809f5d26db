"""Hugging Face generate() at batch 1, the three ways people run it:

    eager      dynamic KV cache (transformers' default)
    static     static KV cache, eager (cache_implementation="static", disable_compile=True)
    compiled   static KV cache compiled by transformers (torch.compile, CUDA graphs)

    stepscope record -o gen.stepscope -- python examples/hf_generate.py --mode eager
    python examples/hf_generate.py --mode eager --torch-profiler gen.json.gz   # the import path

32 new tokens = one prefill forward + 31 decode steps; min_new_tokens keeps a random-weight
model from stopping early at an end-of-sequence token.
"""
import time

import torch

from _common import model_and_prompt, parser, torch_profiler

ap = parser(__doc__.splitlines()[0])
ap.add_argument("--mode", choices=("eager", "static", "compiled"), default="eager")
a = ap.parse_args()
model, ids = model_and_prompt(a.model, a.ctx, a.device)
kw = {"max_new_tokens": a.new_tokens, "min_new_tokens": a.new_tokens, "do_sample": False}
if a.mode != "eager":
    kw["cache_implementation"] = "static"
if a.mode == "static":
    kw["disable_compile"] = True
with torch.inference_mode(), torch_profiler(a.torch_profiler):
    t0 = time.perf_counter()
    out = model.generate(ids, **kw)
    if a.device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
print(f"generated {out.shape[1] - ids.shape[1]} tokens in {dt:.3f} s ({a.mode})")
