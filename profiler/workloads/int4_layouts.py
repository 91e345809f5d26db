"""4-bit group-quantised weight layouts of the GPTQ and AWQ formats (group size 128):
their sizes, a round-to-nearest quantiser, and packing through the libraries' own packers.

Both formats store 4-bit codes eight to an int32, one fp16/bf16 scale and one 4-bit zero
point per group of 128 input rows and output column; they differ in which axis is packed:

- GPTQ (``gptq``; what ExLlamaV2 loads): ``qweight`` (K/8, N) packed along the input axis,
  ``qzeros`` (K/128, N/8) packed along the output axis, stored as zero - 1 (the "v1"
  checkpoint convention the ExLlamaV2 kernel undoes), ``scales`` (K/128, N); symmetric
  (zero 8), act-order off, so no ``g_idx``.
- AWQ (``awq``; what Marlin repacks): ``qweight`` (K, N/8) and ``qzeros`` (K/128, N/8),
  both packed along the output axis in AWQ's [0, 2, 4, 6, 1, 3, 5, 7] order, ``scales``
  (K/128, N); asymmetric (zero point per group). Marlin's repacked weight, permuted scales
  and zero points have the same sizes.

K is in_features, N out_features. Packing runs gptqmodel's ``pack_exllama`` / ``pack_awq``
(``gptqmodel/quantization/awq/utils/packing_utils.py``, torch only); the Marlin permutations
of scales and zero points (``marlin_permute_scales``, ``awq_to_marlin_zero_points``,
``marlin_permute_bias``) are gptqmodel 7.7's ``gptqmodel/utils/marlin.py`` (from vLLM,
Apache-2.0) reproduced here, since that module cannot be imported alone.
torch is imported inside the functions: the sizes import anywhere.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from stepscope.analysis.floor import head_dim, param_counts

BITS = 4
GROUP_SIZE = 128
PACK = 32 // BITS          # codes per int32
FORMATS = ("gptq", "awq")
#: The gptqmodel file holding the packers (an sdist's or an install's, relative to its root).
PACKING_UTILS = Path("gptqmodel/quantization/awq/utils/packing_utils.py")


def packed_bytes(fmt: str, in_features: int, out_features: int, group_size: int = GROUP_SIZE,
                 scale_bytes: int = 2, bias: bool = False) -> dict:
    """Bytes of one packed Linear in ``fmt``: ``qweight_bytes`` (K x N / 2), ``qzeros_bytes``
    (groups x N / 2), ``scales_bytes`` (groups x N x 2), ``bias_bytes`` and their ``total_bytes``.
    Raises ValueError for a shape the format cannot pack."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: give one of {', '.join(FORMATS)}")
    k, n = in_features, out_features
    if k % group_size or n % PACK or (fmt == "gptq" and k % PACK):
        raise ValueError(f"{fmt} cannot pack a {n} x {k} Linear in groups of {group_size}")
    groups = k // group_size
    out = {"qweight_bytes": k * n * BITS // 8, "qzeros_bytes": groups * n * BITS // 8,
           "scales_bytes": groups * n * scale_bytes, "bias_bytes": n * scale_bytes if bias else 0}
    out["total_bytes"] = sum(out.values())
    return out


def decoder_linears(cfg: dict) -> list[tuple[int, int, bool]]:
    """(in_features, out_features, bias) of one decoder layer's Linears, q k v o gate up down
    (llama/qwen2/mistral; biases as ``analysis.floor.param_counts`` counts them)."""
    h, heads, hd, inter = cfg["hidden_size"], cfg["num_attention_heads"], head_dim(cfg), cfg["intermediate_size"]
    kv = cfg.get("num_key_value_heads") or heads
    qkv_bias = bool(cfg.get("attention_bias", cfg.get("model_type") == "qwen2"))
    mlp_bias = bool(cfg.get("mlp_bias"))
    return [(h, heads * hd, qkv_bias), (h, kv * hd, qkv_bias), (h, kv * hd, qkv_bias), (heads * hd, h, False),
            (h, inter, mlp_bias), (h, inter, mlp_bias), (inter, h, mlp_bias)]


def model_weight_bytes(cfg: dict, fmt: str, dtype_bytes: int = 2) -> int:
    """Weight bytes of a model whose decoder Linears are packed in ``fmt`` and whose other
    parameters (embeddings, lm_head, norms) stay 16-bit: what the arm should hold on the device."""
    layers = cfg["num_hidden_layers"]
    lin = decoder_linears(cfg)
    dense = sum(k * n + (n if b else 0) for k, n, b in lin) * dtype_bytes
    packed = sum(packed_bytes(fmt, k, n, scale_bytes=dtype_bytes, bias=b)["total_bytes"] for k, n, b in lin)
    return param_counts(cfg)["param_count"] * dtype_bytes + layers * (packed - dense)


def shapes(fmt: str, in_features: int, out_features: int, group_size: int = GROUP_SIZE) -> dict:
    """The tensors' shapes in ``fmt`` (before any kernel repacking)."""
    k, n, g = in_features, out_features, in_features // group_size
    qweight = (k // PACK, n) if fmt == "gptq" else (k, n // PACK)
    return {"qweight": qweight, "qzeros": (g, n // PACK), "scales": (g, n)}


def load_packing_utils(root: Path):
    """gptqmodel's packing_utils module, loaded from the file under ``root`` (an unpacked
    gptqmodel sdist or install) without importing the gptqmodel package (which needs
    torch >= 2.14 and a dozen other packages)."""
    path = Path(root) / PACKING_UTILS
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: unpack the gptqmodel sdist there (docs/quant-build.md)")
    spec = importlib.util.spec_from_file_location("stepscope_gptqmodel_packing_utils", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rtn_quantize(weight, group_size: int = GROUP_SIZE, symmetric: bool = False):
    """Round-to-nearest 4-bit quantisation of an nn.Linear weight (N, K), per group of
    ``group_size`` input rows and output column. Returns ``codes`` (K, N) int32 in 0..15,
    ``zeros`` (K/group, N) int32 and ``scales`` (K/group, N) in the weight's dtype, with
    weight.T ~= (codes - zeros) * scales (each group's scale and zero repeated)."""
    import torch
    n, k = weight.shape
    if k % group_size or n % PACK:
        raise ValueError(f"cannot pack a {n} x {k} Linear in 4-bit groups of {group_size}")
    w = weight.detach().T.float().reshape(k // group_size, group_size, n)
    maxq = (1 << BITS) - 1
    if symmetric:
        scales = (w.abs().amax(dim=1) * 2 / maxq).clamp_min(1e-8)
        zeros = torch.full_like(scales, (maxq + 1) // 2)
    else:
        lo, hi = w.amin(dim=1), w.amax(dim=1)       # AutoAWQ's pseudo_quantize_tensor
        scales = (hi - lo).clamp_min(1e-5) / maxq
        zeros = (-(lo / scales).round()).clamp(0, maxq)
    codes = (w / scales[:, None] + zeros[:, None]).round().clamp(0, maxq)
    return (codes.reshape(k, n).to(torch.int32), zeros.to(torch.int32), scales.to(weight.dtype))


def dequantize(codes, zeros, scales):
    """(codes - zeros) * scales, groups expanded: the weight (K, N) the packed tensors stand for."""
    g = codes.shape[0] // zeros.shape[0]
    return (codes - zeros.repeat_interleave(g, 0)).to(scales.dtype) * scales.repeat_interleave(g, 0)


def pack_gptq(pu, codes, zeros):
    """GPTQ tensors through gptqmodel's ``pack_exllama``: ``qweight`` (K/8, N) and
    ``qzeros`` (K/128, N/8) holding zero - 1 (the checkpoint convention ExLlamaV2 undoes)."""
    return pu.pack_exllama(codes, (zeros - 1) & ((1 << BITS) - 1), BITS)


def pack_awq(pu, codes, zeros):
    """AWQ tensors through gptqmodel's ``pack_awq``: ``qweight`` (K, N/8), ``qzeros`` (K/128, N/8)."""
    return pu.pack_awq(codes, zeros, BITS)


# -- Marlin's layout of AWQ scales and zero points (gptqmodel 7.7 gptqmodel/utils/marlin.py,
#    from vLLM; Apache-2.0). The weight itself is repacked by the library's awq_marlin_repack op.
def _scale_perms() -> tuple[list[int], list[int]]:
    perm = [i + 8 * j for i in range(8) for j in range(8)]
    single = [2 * i + j for i in range(4) for j in (0, 1, 8, 9, 16, 17, 24, 25)]
    return perm, single


def marlin_permute_scales(s, size_k: int, size_n: int, group_size: int):
    perm, single = _scale_perms()
    p = perm if group_size < size_k and group_size != -1 else single
    return s.reshape(-1, len(p))[:, p].reshape(-1, size_n).contiguous()


def marlin_permute_bias(b):
    _, single = _scale_perms()
    return b.reshape(-1, len(single))[:, single].reshape(b.shape).contiguous()


def _interleave() -> list[int]:
    return [0, 2, 4, 6, 1, 3, 5, 7]


def unpack_cols(packed, size_k: int, size_n: int):
    """(size_k, size_n / 8) int32 -> (size_k, size_n) codes, nibble i of word j -> column 8 j + i."""
    import torch
    shifts = torch.arange(0, 32, BITS, device=packed.device, dtype=torch.int32)
    return ((packed[:, :, None] >> shifts) & 0xF).reshape(size_k, size_n)


def pack_cols(codes, size_k: int, size_n: int):
    """Inverse of ``unpack_cols``."""
    import torch
    shifts = torch.arange(0, 32, BITS, device=codes.device, dtype=torch.int32)
    words = (codes.reshape(size_k, size_n // PACK, PACK).to(torch.int32) & 0xF) << shifts
    out = torch.zeros(size_k, size_n // PACK, dtype=torch.int32, device=codes.device)
    for i in range(PACK):
        out |= words[:, :, i]
    return out


def awq_to_marlin_zero_points(q_zp_packed, size_k: int, size_n: int):
    """AWQ-packed zero points (groups, N/8) -> Marlin's order, packed (``size_k`` = groups)."""
    q_zp = unpack_cols(q_zp_packed, size_k, size_n)
    undo = sorted(range(PACK), key=_interleave().__getitem__)        # argsort of the interleave
    q_zp = q_zp.reshape(-1, PACK)[:, undo].reshape(-1, size_n)
    perm, _ = _scale_perms()
    zp = q_zp.reshape(-1, len(perm))[:, perm]
    zp = zp.reshape(-1, PACK)[:, _interleave()].reshape(-1, size_n).contiguous()
    return pack_cols(zp, size_k, size_n)
