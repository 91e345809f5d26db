"""Modelled bytes per decode step and the analytic memory floor.

Two conventions for the weights (docs/models.md):
- ``all``: every parameter byte, as the paper's floor (W + K) / B_peak;
- ``read``: the bytes a decode step really reads: the input embedding contributes one
  row, tied embeddings count once (as the output projection).
KV: the step reads ``position`` tokens of K and V (all layers) and writes one.
"""
from __future__ import annotations

from .gpu_table import contains_name

#: Datasheet peak memory bandwidth, bytes/s (docs/models.md): (words inside the GPU name
#: as NVML reports it, display name, bytes/s); the first match wins ("L4" does not match
#: "L40", nor "H200" "GH200": those GPUs are unknown here, not another GPU).
DATASHEET = [
    ("H100 PCIe", "H100 PCIe", 2.0e12), ("H100", "H100 SXM5", 3.35e12), ("H200", "H200", 4.8e12),
    ("A100-SXM4-80GB", "A100-80GB SXM4", 2.039e12), ("A100 80GB", "A100-80GB SXM4", 2.039e12),
    ("L40S", "L40S", 864e9), ("L4", "L4", 300e9),
]
#: One entry per GPU, by display name.
DATASHEET_PEAK = list(dict((name, bw) for _, name, bw in DATASHEET).items())


def peak_bandwidth(meta: dict) -> tuple[float | None, str]:
    """(bytes/s, source): NVML's bus width x max memory clock x 2, else the datasheet."""
    gpu = meta.get("gpu") or {}
    if gpu.get("peak_bytes_per_s"):
        return float(gpu["peak_bytes_per_s"]), "nvml: bus width x max memory clock x 2"
    name = gpu.get("name", "")
    for key, label, bw in DATASHEET:
        if contains_name(name, key):
            return bw, f"datasheet ({label})"
    return None, "unknown GPU: no NVML peak and no datasheet entry"


def head_dim(cfg: dict) -> int:
    return int(cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"])


def param_counts(cfg: dict) -> dict:
    """Parameter count and embedding size from a config (llama/qwen2/mistral families)."""
    h, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or heads
    hd = head_dim(cfg)
    inter, vocab = cfg["intermediate_size"], cfg["vocab_size"]
    qkv_bias = cfg.get("attention_bias", cfg.get("model_type") == "qwen2")
    attn = h * heads * hd + 2 * h * kv * hd + heads * hd * h
    if qkv_bias:
        attn += heads * hd + 2 * kv * hd
    mlp = 3 * h * inter + (2 * inter + h if cfg.get("mlp_bias") else 0)
    per_layer = attn + mlp + 2 * h
    emb = vocab * h
    tied = bool(cfg.get("tie_word_embeddings", False))
    total = emb + layers * per_layer + h + (0 if tied else emb)
    return {"param_count": total, "embedding_count": emb, "tied_embeddings": tied, "hidden": h}


def kv_bytes_per_token(cfg: dict, dtype_bytes: int = 2) -> int:
    """K and V of one token, all layers."""
    kv = cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    return 2 * cfg["num_hidden_layers"] * kv * head_dim(cfg) * dtype_bytes


def step_bytes(workload: dict, position: int, dtype_bytes: int = 2) -> dict:
    """Modelled bytes of one decode step at ``position`` tokens already in the cache.

    Uses the parameter sizes measured from the real model when the trace has them
    (``param_bytes``, ``input_embedding_bytes``, ``tied_embeddings``), else the config.
    """
    cfg = workload["config"]
    if "param_bytes" in workload:
        total = int(workload["param_bytes"])
        emb = int(workload["input_embedding_bytes"])
        tied = bool(workload["tied_embeddings"])
        row = int(workload.get("embedding_row_bytes", cfg["hidden_size"] * dtype_bytes))
    else:
        pc = param_counts(cfg)
        total, emb = pc["param_count"] * dtype_bytes, pc["embedding_count"] * dtype_bytes
        tied, row = pc["tied_embeddings"], cfg["hidden_size"] * dtype_bytes
    weights_read = total if tied else total - emb + row
    kvt = kv_bytes_per_token(cfg, dtype_bytes)
    return {"weights_all_bytes": total, "weights_read_bytes": weights_read,
            "kv_read_bytes": kvt * position, "kv_write_bytes": kvt,
            "all_bytes": total + kvt * position,
            "read_bytes": weights_read + kvt * position + kvt}


def floor_ns(n_bytes: float, peak_bytes_per_s: float) -> int:
    return int(round(n_bytes / peak_bytes_per_s * 1e9))
