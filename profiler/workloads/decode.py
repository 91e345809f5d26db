"""Batch-1 decode workloads: HF transformers models, eager or CUDA-graph replayed.

Models come from the registry (published configurations kept in ``models/*.json``,
random bf16 weights built directly on the device: decode latency does not depend on
weight values) or from a local Hugging Face checkpoint folder (real weights).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stepscope.analysis.floor import kv_bytes_per_token

from ..errors import WorkloadError

MODELS_DIR = Path(__file__).with_name("models")
MODES = ("eager", "eager-static", "graph")
#: SDPA backend choices: ``default`` leaves torch's choice; ``no-cudnn`` excludes the
#: cuDNN attention backend (torch picks among flash, memory-efficient and math); the
#: others force one backend.
SDPA_BACKENDS = ("default", "no-cudnn", "flash", "efficient", "math", "cudnn")


def sdpa_context(name: str):
    """A context manager restricting torch's SDPA backends to ``name``'s set."""
    import contextlib

    from torch.nn.attention import SDPBackend, sdpa_kernel
    if name == "default":
        return contextlib.nullcontext()
    sets = {"no-cudnn": [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH],
            "flash": [SDPBackend.FLASH_ATTENTION], "efficient": [SDPBackend.EFFICIENT_ATTENTION],
            "math": [SDPBackend.MATH], "cudnn": [SDPBackend.CUDNN_ATTENTION]}
    if name not in sets:
        raise WorkloadError(f"unknown SDPA backend {name!r}: give one of {', '.join(SDPA_BACKENDS)}.")
    return sdpa_kernel(sets[name])


def registry() -> dict[str, Path]:
    return {p.stem: p for p in sorted(MODELS_DIR.glob("*.json"))}


@dataclass
class ModelSpec:
    name: str
    config: dict           # the config.json contents
    checkpoint: Path | None = None  # a local folder with weights, or None for random weights


def resolve_model(model: str) -> ModelSpec:
    """A registry name, a local checkpoint folder, or a hub id (needs the network)."""
    reg = registry()
    if model in reg:
        return ModelSpec(model, read_config(reg[model]))
    path = Path(model)
    if path.is_dir():
        cfg = path / "config.json"
        if not cfg.is_file():
            raise WorkloadError(f"{path} has no config.json: it is not a Hugging Face checkpoint folder.")
        return ModelSpec(path.name, read_config(cfg), path)
    if path.suffix == ".json" and path.is_file():
        return ModelSpec(path.stem, read_config(path))
    if "/" in model and not path.exists():
        return _hub_spec(model)
    raise WorkloadError(f"unknown model {model!r}: give one of {', '.join(reg)}, a checkpoint "
                        "folder, or a config .json file.")


def _hub_spec(repo_id: str) -> ModelSpec:
    try:
        from huggingface_hub import snapshot_download
        folder = snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors"])
    except Exception as e:  # noqa: BLE001 - offline, unknown repo, no permission
        raise WorkloadError(f"cannot fetch {repo_id!r} from the Hugging Face hub "
                            f"({type(e).__name__}); give a local checkpoint folder instead.") from None
    return resolve_model(folder)


def resolve_config(model: str) -> ModelSpec:
    """Like ``resolve_model`` but never fetches weights: a hub id gets its config.json
    only (``hf_hub_download``), and nothing at all is fetched when the hub is offline
    (``HF_HUB_OFFLINE``): a config already in the local cache is used, else one sentence.
    For the floor of a recorded trace, which needs the configuration alone."""
    path = Path(model)
    if not ("/" in model and not path.exists()) or model in registry():
        return resolve_model(model)
    try:
        from huggingface_hub import constants, hf_hub_download
    except ImportError:
        raise WorkloadError(f"huggingface_hub is not installed: cannot fetch the config of {model!r}; "
                            "give a config .json file instead.") from None
    offline = bool(constants.HF_HUB_OFFLINE)
    try:
        cfg = hf_hub_download(model, filename="config.json", local_files_only=offline)
    except Exception as e:  # noqa: BLE001 - offline, unknown repo, no permission
        why = "the hub is offline (HF_HUB_OFFLINE) and it is not in the local cache" if offline else type(e).__name__
        raise WorkloadError(f"cannot fetch config.json of {model!r} ({why}); give a config .json file "
                            "or a checkpoint folder instead.") from None
    return ModelSpec(model.split("/")[-1], read_config(Path(cfg)))


#: Largest config.json read (real ones are a few kB).
MAX_CONFIG_BYTES = 4 << 20


def read_config(path: Path) -> dict:
    """A model's config.json, checked where it enters: a JSON object of bounded size whose
    integers the floor reads are positive and within any model's range
    (``validate.check_config``); else WorkloadError, one sentence naming the file."""
    from stepscope.analysis.trace.validate import check_config
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise WorkloadError(f"{path}: is over {MAX_CONFIG_BYTES >> 20} MB, not a model config.")
        cfg = json.loads(path.read_bytes())
    except OSError as e:
        raise WorkloadError(f"{path}: cannot be read ({e.strerror}).") from None
    except (ValueError, RecursionError) as e:
        raise WorkloadError(f"{path}: is not valid JSON ({type(e).__name__}), not a model config.") from None
    problem = check_config(cfg)
    if problem:
        raise WorkloadError(f"{path}: not a usable model config: {problem}.")
    return cfg


# -- sizes, for checks before allocating --------------------------------------
def check_fits(cfg: dict, param_count: int, ctx: int, new_tokens: int, free_bytes: int,
               dtype_bytes: int = 2) -> None:
    """Raise WorkloadError unless the positions and memory suffice."""
    max_pos = cfg.get("max_position_embeddings")
    if max_pos and ctx + new_tokens > max_pos:
        raise WorkloadError(f"ctx {ctx} + {new_tokens} new tokens exceeds the model's "
                            f"{max_pos} positions.")
    weights = param_count * dtype_bytes
    kv = kv_bytes_per_token(cfg, dtype_bytes) * (ctx + new_tokens)
    # Prefill activations and workspace: logits for one row, MLP activations per token.
    workspace = 2 << 30
    workspace += ctx * (cfg["hidden_size"] * 8 + cfg["intermediate_size"] * 3) * dtype_bytes
    need = weights + kv + workspace
    if need > free_bytes:
        raise WorkloadError(f"needs about {need / 1e9:.1f} GB (weights {weights / 1e9:.1f}, KV "
                            f"{kv / 1e9:.1f}, workspace {workspace / 1e9:.1f}) but the GPU has "
                            f"{free_bytes / 1e9:.1f} GB free.")


# -- building -----------------------------------------------------------------
def build_model(spec: ModelSpec, device: str = "cuda", dtype: str = "bfloat16",
                attn: str = "sdpa", seed: int = 0):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    torch_dtype = getattr(torch, dtype)
    torch.manual_seed(seed)
    if spec.checkpoint is not None:
        try:
            import accelerate  # noqa: F401 - device_map loads straight to the device
            where = {"device_map": device}
        except ImportError:
            where = {}
        try:
            model = AutoModelForCausalLM.from_pretrained(
                spec.checkpoint, dtype=torch_dtype, attn_implementation=attn, **where)
            return model.to(device).eval()
        except (OSError, ValueError) as e:
            raise WorkloadError(f"cannot load checkpoint {spec.checkpoint}: {e}") from None
    cfg = dict(spec.config)
    model_type = cfg.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype,
                                                 attn_implementation=attn)
    return model.eval()


def param_bytes(model) -> dict:
    """Bytes of all parameters, and of the input embedding (read one row per step)."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    emb = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is emb   # one Parameter when tied (any device)
    return {"param_count": sum(p.numel() for p in model.parameters()),
            "param_bytes": total, "input_embedding_bytes": emb.numel() * emb.element_size(),
            "tied_embeddings": bool(tied), "embedding_row_bytes": emb.shape[1] * emb.element_size()}


# -- decoding -----------------------------------------------------------------
def cache_kwarg(model) -> str:
    """The forward keyword that takes the KV cache: ``cache`` from the transformers release
    that renamed it (5.25: ``past_key_values`` warns and goes in 5.40), else
    ``past_key_values``. Read from the forward's signature, not guessed from a version."""
    import inspect
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class Decoder:
    """Greedy batch-1 decode after a prefill of ``ctx`` tokens.

    ``step()`` launches one decode step and returns without synchronising; the next
    token stays on the device. Modes: ``eager`` (dynamic cache), ``eager-static``
    (static cache, in-place inputs), ``graph`` (the eager-static step captured once
    as a CUDA graph and replayed).
    """

    def __init__(self, model, ctx: int, mode: str, max_new_tokens: int, seed: int = 0,
                 sdpa_backend: str = "default"):
        import torch
        if mode not in MODES:
            raise WorkloadError(f"unknown mode {mode!r}: give one of {', '.join(MODES)}.")
        if sdpa_backend not in SDPA_BACKENDS:
            raise WorkloadError(f"unknown SDPA backend {sdpa_backend!r}: give one of {', '.join(SDPA_BACKENDS)}.")
        self.torch, self.model, self.ctx, self.mode = torch, model, ctx, mode
        self.sdpa_backend = sdpa_backend
        self.cache_kw = cache_kwarg(model)
        self.device = next(model.parameters()).device
        g = torch.Generator().manual_seed(seed)
        vocab = model.config.vocab_size
        self.prompt = torch.randint(0, vocab, (1, ctx), generator=g).to(self.device)
        self.max_cache_len = ctx + max_new_tokens
        self.graph = None
        self.steps_done = 0

    @property
    def position(self) -> int:
        """Tokens in the cache before the next step: ctx + steps run so far."""
        return self.ctx + self.steps_done

    @property
    def inference(self):
        """Inference mode, with the SDPA backends this decoder was given."""
        import contextlib
        if self.sdpa_backend == "default":
            return self.torch.inference_mode()
        stack = contextlib.ExitStack()
        stack.enter_context(self.torch.inference_mode())
        stack.enter_context(sdpa_context(self.sdpa_backend))
        return stack

    def prefill(self):
        """Run the prompt; return the logits of its last position (float32, CPU)."""
        torch = self.torch
        from transformers import DynamicCache, StaticCache
        with self.inference:
            if self.mode == "eager":
                self.cache = DynamicCache(config=self.model.config)
                out = self.model(input_ids=self.prompt, **{self.cache_kw: self.cache},
                                 use_cache=True, logits_to_keep=1)
                self.tok = out.logits[:, -1:].argmax(-1)
            else:
                self.cache = StaticCache(config=self.model.config, max_cache_len=self.max_cache_len)
                pos = torch.arange(self.ctx, device=self.device)
                out = self.model(input_ids=self.prompt, **{self.cache_kw: self.cache},
                                 cache_position=pos, use_cache=True, logits_to_keep=1)
                self.tok = out.logits[:, -1:].argmax(-1)       # static input buffer (1, 1)
                self.pos = torch.full((1,), self.ctx, device=self.device, dtype=torch.long)
            self.last_logits = out.logits[:, -1].float()
        return self.last_logits.cpu()

    def _static_step(self):
        out = self.model(input_ids=self.tok, **{self.cache_kw: self.cache}, cache_position=self.pos,
                         position_ids=self.pos.unsqueeze(0), use_cache=True)
        self.last_logits = out.logits[:, -1].float()
        self.tok.copy_(self.last_logits.argmax(-1, keepdim=True))
        self.pos.add_(1)

    def capture(self, warmup: int = 2) -> None:
        """Graph mode: warm up on a side stream, then capture one static step."""
        torch = self.torch
        if self.mode != "graph":
            return
        with self.inference:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(warmup):
                    self._static_step()
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self._static_step()
        self.steps_done += warmup

    def eager_static_step(self):
        """Static modes: the step's kernels launched one by one (a graph's, without the graph)."""
        if self.mode == "eager":
            return self.step()
        self._advance()
        with self.inference:
            self._static_step()
        return self.tok

    def _advance(self):
        if self.steps_done + 1 > self.max_cache_len - self.ctx:
            raise WorkloadError(f"the static cache holds {self.max_cache_len} positions; "
                                "raise max_new_tokens.")
        self.steps_done += 1

    def step(self):
        self._advance()
        if self.mode == "graph":
            self.graph.replay()
            return self.tok
        with self.inference:
            if self.mode == "eager":
                out = self.model(input_ids=self.tok, **{self.cache_kw: self.cache}, use_cache=True)
                self.last_logits = out.logits[:, -1].float()
                self.tok = self.last_logits.argmax(-1, keepdim=True)
            else:
                self._static_step()
        return self.tok
