"""analysis/floor.py against published sizes and hand-computed cases (issue 31): parameter
counts of the three registry models from their config.json (the counts their model cards
publish, ../shared/REFERENCE.md), each optional term of the count (qkv bias, MLP bias, tied
embeddings, an explicit head_dim), KV bytes per token, the bytes of a decode step in both
conventions from a config and from measured parameter sizes, the peak bandwidth's sources
(NVML first, then the first datasheet name inside the GPU's name as whole words: an L40 is
not an L4, a GH200 not an H200), and the floor's rounding."""
import json
from pathlib import Path

import pytest

import stepscope.profiler
from stepscope.analysis import floor as F

MODELS = Path(next(iter(stepscope.profiler.__path__))) / "workloads" / "models"
#: (parameters, KV bytes per token in bf16): the model cards' counts, docs/models.md
PUBLISHED = {"qwen2.5-7b": (7_615_616_512, 57_344), "llama-3.1-8b": (8_030_261_248, 131_072),
             "mistral-7b-v0.3": (7_248_023_552, 131_072)}


def config(name):
    return json.loads((MODELS / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_registry_configs_count_the_published_parameters(name):
    cfg = config(name)
    count, kv = PUBLISHED[name]
    pc = F.param_counts(cfg)
    assert pc == {"param_count": count, "embedding_count": cfg["vocab_size"] * cfg["hidden_size"],
                  "tied_embeddings": False, "hidden": cfg["hidden_size"]}
    assert F.kv_bytes_per_token(cfg) == kv
    assert F.kv_bytes_per_token(cfg, dtype_bytes=1) == kv // 2
    assert F.head_dim(cfg) == 128


# A tiny config: hidden 8, 2 layers, 4 heads of 2 (no head_dim given), 2 KV heads,
# intermediate 16, vocab 10.
TINY = {"hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "intermediate_size": 16, "vocab_size": 10, "model_type": "llama"}
# attention: q 8*4*2=64, k and v 2*8*2*2=64, o 4*2*8=64 -> 192; MLP 3*8*16=384; two norms 16:
# per layer 592; embedding 80; total 80 + 2*592 + 8 (final norm) + 80 (untied head) = 1352
TINY_COUNT = 1352


def test_each_term_of_the_count():
    assert F.param_counts(TINY)["param_count"] == TINY_COUNT
    assert F.param_counts({**TINY, "tie_word_embeddings": True}) == {
        "param_count": TINY_COUNT - 80, "embedding_count": 80, "tied_embeddings": True, "hidden": 8}
    # qkv bias: 4*2 + 2*2*2 = 16 per layer
    assert F.param_counts({**TINY, "attention_bias": True})["param_count"] == TINY_COUNT + 2 * 16
    # qwen2 has the qkv bias unless its config says otherwise
    assert F.param_counts({**TINY, "model_type": "qwen2"})["param_count"] == TINY_COUNT + 2 * 16
    assert F.param_counts({**TINY, "model_type": "qwen2", "attention_bias": False})["param_count"] == TINY_COUNT
    # MLP bias: 2*16 + 8 = 40 per layer
    assert F.param_counts({**TINY, "mlp_bias": True})["param_count"] == TINY_COUNT + 2 * 40
    # no num_key_value_heads: as many KV heads as heads: k and v 2*8*4*2 = 128 (64 more per layer)
    no_kv = {k: v for k, v in TINY.items() if k != "num_key_value_heads"}
    assert F.param_counts(no_kv)["param_count"] == TINY_COUNT + 2 * 64
    assert F.param_counts({**TINY, "num_key_value_heads": None})["param_count"] == TINY_COUNT + 2 * 64
    # an explicit head_dim of 4 (not 8/4): q 128, k and v 2*8*2*4=128, o 128 -> 384: 192 more per layer
    assert F.head_dim({**TINY, "head_dim": 4}) == 4 and F.head_dim(TINY) == 2
    assert F.param_counts({**TINY, "head_dim": 4})["param_count"] == TINY_COUNT + 2 * 192


def test_kv_bytes_per_token_counts_k_and_v_of_every_layer():
    assert F.kv_bytes_per_token(TINY) == 2 * 2 * 2 * 2 * 2            # K and V, 2 layers, 2 heads, dim 2, bf16
    assert F.kv_bytes_per_token({**TINY, "num_key_value_heads": None}) == 2 * 2 * 4 * 2 * 2
    assert F.kv_bytes_per_token({**TINY, "head_dim": 4}, dtype_bytes=4) == 2 * 2 * 2 * 4 * 4


def test_step_bytes_from_the_config():
    cfg = config("qwen2.5-7b")
    b = F.step_bytes({"config": cfg}, position=2048)
    total = 7_615_616_512 * 2                     # 15,231,233,024
    read = total - 152_064 * 3584 * 2 + 3584 * 2  # the input embedding reads one row: 14,141,245,440
    assert b == {"weights_all_bytes": total, "weights_read_bytes": read, "kv_read_bytes": 57_344 * 2048,
                 "kv_write_bytes": 57_344, "all_bytes": total + 57_344 * 2048,
                 "read_bytes": read + 57_344 * 2049}
    tied = F.step_bytes({"config": {**TINY, "tie_word_embeddings": True}}, position=3, dtype_bytes=1)
    # tied: the embedding is read once, as the output projection: every byte counts
    assert tied["weights_all_bytes"] == tied["weights_read_bytes"] == TINY_COUNT - 80
    assert tied["kv_read_bytes"] == 3 * 16 and tied["read_bytes"] == TINY_COUNT - 80 + 4 * 16


def test_step_bytes_from_measured_parameter_sizes():
    wl = {"config": TINY, "param_bytes": 1000, "input_embedding_bytes": 160, "tied_embeddings": False}
    b = F.step_bytes(wl, position=1)
    # one row of the hidden size, bf16: 16 bytes
    assert b == {"weights_all_bytes": 1000, "weights_read_bytes": 1000 - 160 + 16, "kv_read_bytes": 32,
                 "kv_write_bytes": 32, "all_bytes": 1032, "read_bytes": 856 + 32 + 32}
    assert F.step_bytes({**wl, "embedding_row_bytes": 5}, position=0)["weights_read_bytes"] == 845
    assert F.step_bytes({**wl, "tied_embeddings": True}, position=0)["weights_read_bytes"] == 1000


@pytest.mark.parametrize("gpu, want", [
    ({"name": "NVIDIA H100 80GB HBM3", "peak_bytes_per_s": 3.352e12}, (3.352e12, "nvml: bus width x max memory clock x 2")),
    ({"name": "NVIDIA H100 80GB HBM3"}, (3.35e12, "datasheet (H100 SXM5)")),
    ({"name": "NVIDIA H100 PCIe", "peak_bytes_per_s": 0}, (2.0e12, "datasheet (H100 PCIe)")),
    ({"name": "NVIDIA H200"}, (4.8e12, "datasheet (H200)")),
    ({"name": "NVIDIA A100 80GB PCIe"}, (2.039e12, "datasheet (A100-80GB SXM4)")),
    ({"name": "NVIDIA L40S"}, (864e9, "datasheet (L40S)")),
    ({"name": "NVIDIA L4"}, (300e9, "datasheet (L4)")),
    ({"name": "Tesla T4"}, (None, "unknown GPU: no NVML peak and no datasheet entry")),
    # whole words only: an L40 is not an L4, a GH200 not an H200
    ({"name": "NVIDIA L40"}, (None, "unknown GPU: no NVML peak and no datasheet entry")),
    ({"name": "NVIDIA GH200 480GB"}, (None, "unknown GPU: no NVML peak and no datasheet entry")),
    ({"name": "NVIDIA H200 NVL"}, (4.8e12, "datasheet (H200)")),
    ({}, (None, "unknown GPU: no NVML peak and no datasheet entry")),
])
def test_peak_bandwidth_nvml_first_then_the_first_datasheet_match(gpu, want):
    got = F.peak_bandwidth({"gpu": gpu})
    assert got == want and type(got[0]) is type(want[0])


def test_peak_bandwidth_without_a_gpu_block():
    assert F.peak_bandwidth({}) == (None, "unknown GPU: no NVML peak and no datasheet entry")
    assert F.peak_bandwidth({"gpu": None})[0] is None
    assert F.peak_bandwidth({"gpu": {"peak_bytes_per_s": "2e12"}}) == (2e12, "nvml: bus width x max memory clock x 2")


def test_datasheet_peak_lists_each_gpu_once():
    assert F.DATASHEET_PEAK == [("H100 PCIe", 2.0e12), ("H100 SXM5", 3.35e12), ("H200", 4.8e12),
                                ("A100-80GB SXM4", 2.039e12), ("L40S", 864e9), ("L4", 300e9)]


def test_floor_ns_rounds_to_the_nearest_ns():
    assert F.floor_ns(3.35e12, 3.35e12) == 1_000_000_000
    assert F.floor_ns(15_231_233_024, 3.35e12) == 4_546_637     # 4,546,636.72 ns
    assert F.floor_ns(2.4, 1e9) == 2 and F.floor_ns(2.6, 1e9) == 3
    assert isinstance(F.floor_ns(1.0, 1e9), int)
