"""A hand-written batch-1 decode loop: prefill, then one forward per token, greedy.

    eager         dynamic KV cache
    eager-static  static KV cache, launched op by op
    graph         the static step captured once as a CUDA graph and replayed

    stepscope record -o loop.stepscope -- python examples/decode_loop.py --mode eager-static
    python examples/decode_loop.py --mode graph --torch-profiler step.json.gz --profile-steps 1

Each step reads its token back to the host (as a streaming loop does); --profile-steps N
puts only the last N decode steps under torch.profiler, --mark-steps adds its ProfilerStep
markers.
"""
import torch
from transformers import DynamicCache, StaticCache

from _common import model_and_prompt, parser, torch_profiler
from stepscope.profiler.workloads.decode import cache_kwarg

ap = parser(__doc__.splitlines()[0])
ap.add_argument("--mode", choices=("eager", "eager-static", "graph"), default="eager-static")
ap.add_argument("--profile-steps", type=int, default=0, help="profile only the last N decode steps (0: the whole run)")
ap.add_argument("--mark-steps", action="store_true", help="ProfilerStep markers in the torch.profiler trace")
a = ap.parse_args()
model, ids = model_and_prompt(a.model, a.ctx, a.device)
kw = cache_kwarg(model)
steps = a.new_tokens - 1
tokens = []
with torch.inference_mode():
    if a.mode == "eager":
        cache = DynamicCache(config=model.config)
        out = model(input_ids=ids, **{kw: cache}, use_cache=True, logits_to_keep=1)
        tok = out.logits[:, -1:].argmax(-1)
    else:
        cache = StaticCache(config=model.config, max_cache_len=a.ctx + a.new_tokens + 4)
        out = model(input_ids=ids, **{kw: cache}, cache_position=torch.arange(a.ctx, device=a.device),
                    use_cache=True, logits_to_keep=1)
        tok = out.logits[:, -1:].argmax(-1)
        pos = torch.full((1,), a.ctx, device=a.device, dtype=torch.long)

    def static_step():
        o = model(input_ids=tok, **{kw: cache}, cache_position=pos, position_ids=pos.unsqueeze(0), use_cache=True)
        tok.copy_(o.logits[:, -1:].argmax(-1))
        pos.add_(1)

    graph = None
    if a.mode == "graph":       # warm up on a side stream, capture one step (two positions spent)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            static_step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_step()
    tokens.append(int(tok))

    def step():
        global tok
        if graph is not None:
            graph.replay()
        elif a.mode == "eager-static":
            static_step()
        else:
            o = model(input_ids=tok, **{kw: cache}, use_cache=True)
            tok = o.logits[:, -1:].argmax(-1)
        tokens.append(int(tok))   # the host reads each token: one sync per step

    first_profiled = steps - a.profile_steps if a.profile_steps else 0
    for _ in range(first_profiled):
        step()
    with torch_profiler(a.torch_profiler, a.mark_steps) as mark:
        for _ in range(steps - first_profiled):
            step()
            mark()
print(f"decoded {len(tokens)} tokens ({a.mode}; {steps} decode steps)")
