"""Quantised weight paths, applied in place to a built bf16 model (random weights
quantised at load, no downloads):

- ``bf16``: the baseline;
- ``bnb-nf4``: bitsandbytes 4-bit NF4, every Linear but lm_head (transformers'
  BitsAndBytesConfig default), bf16 compute: the paper's bnb-nf4;
- ``torchao-int8wo``: torchao int8 weight-only, per-row scales, every Linear;
- ``torchao-int4wo``: torchao int4 weight-only, group size 128, tinygemm layout
  (``tile_packed_to_4d``, torch's own ``_weight_int4pack_mm``), every Linear;
- ``gptq-exllamav2``: GPTQ weights (4-bit, group 128) on ExLlamaV2's kernel, every Linear but
  lm_head, the model in fp16 (the kernel's only dtype): the paper's GPTQ + ExLlamaV2;
- ``awq-marlin``: AWQ weights (4-bit, group 128, zero points) on the Marlin kernel as
  gptqmodel ships it, every Linear but lm_head, bf16: the paper's AWQ + Marlin.
The last two need extensions built on the GPU machine first (int4_kernels,
benchmarks/quant_build.sh, docs/quant-build.md).
"""
from __future__ import annotations

#: The arms, the bf16 baseline first (also the order of tables).
ARMS = ("bf16", "bnb-nf4", "torchao-int8wo", "torchao-int4wo", "gptq-exllamav2", "awq-marlin")
#: The library kernel each arm exists to run: a substring of its short name in a trace
#: (exllamav2_ext/cuda/q_gemm_kernel_gptq.cuh; gptqmodel_ext/marlin/kernel.h).
KERNELS = {"gptq-exllamav2": "gemm_half_q_half_gptq_kernel", "awq-marlin": "marlin::Marlin"}


def quantize(model, arm: str) -> str:
    """Quantise ``model`` in place; returns the library and version used."""
    import torch
    if arm == "bf16":
        return f"torch {torch.__version__}"
    if arm == "bnb-nf4":
        import bitsandbytes as bnb
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, torch.nn.Linear) and name != "lm_head":
                    new = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                            compute_dtype=torch.bfloat16, quant_type="nf4", device="meta")
                    new.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False,
                                                   quant_type="nf4").to(child.weight.device)
                    if child.bias is not None:
                        new.bias = child.bias
                    setattr(parent, name, new)
        return f"bitsandbytes {bnb.__version__}"
    if arm == "gptq-exllamav2":
        from .int4_kernels import quantize_gptq_exllamav2
        return quantize_gptq_exllamav2(model)
    if arm == "awq-marlin":
        from .int4_kernels import quantize_awq_marlin
        return quantize_awq_marlin(model)
    import torchao
    from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig, quantize_
    if arm == "torchao-int8wo":
        quantize_(model, Int8WeightOnlyConfig())
    elif arm == "torchao-int4wo":
        quantize_(model, Int4WeightOnlyConfig(group_size=128, int4_packing_format="tile_packed_to_4d"))
    else:
        raise ValueError(f"unknown arm {arm!r}")
    return f"torchao {torchao.__version__}"
