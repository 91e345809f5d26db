"""The gptq-exllamav2 and awq-marlin arms' CPU side: the formats' sizes, the libraries'
packers against independent unpacking, Marlin's scale and zero-point permutations against
gptqmodel's own code, the kernel names and classes.

The library tests need torch and the gptqmodel sdist (docs/quant-build.md: unpacked in
STEPSCOPE_QUANT_EXT, or .whl/quant/gptqmodel-*.tar.gz in the checkout); without them they skip."""
import ast
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from stepscope.analysis.kernel_classes import KernelClass, classify_name, short_name
from stepscope.analysis.results.quant import path
from stepscope.profiler.workloads import int4_layouts as lay
from stepscope.profiler.workloads.decode import registry

AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


def test_packed_bytes_of_one_qwen_k_proj():
    got = lay.packed_bytes("gptq", 3584, 512, bias=True)
    assert got == {"qweight_bytes": 3584 * 512 // 2, "qzeros_bytes": 28 * 512 // 2, "scales_bytes": 28 * 512 * 2,
                   "bias_bytes": 1024, "total_bytes": 917504 + 7168 + 28672 + 1024}
    assert lay.packed_bytes("awq", 3584, 512, bias=True) == got


@pytest.mark.parametrize("fmt", lay.FORMATS)
@pytest.mark.parametrize("k,n", [(3584, 512), (3584, 18944), (18944, 3584), (4096, 14336), (128, 8)])
def test_half_a_byte_per_weight_plus_a_scale_and_zero_per_group(fmt, k, n):
    b = lay.packed_bytes(fmt, k, n)
    assert b["total_bytes"] / (k * n) == pytest.approx(0.5 + (2 + 0.5) / 128)
    for name, shape in lay.shapes(fmt, k, n).items():   # int32 words and 16-bit scales
        assert int(np.prod(shape)) * (2 if name == "scales" else 4) == b[f"{name}_bytes"]


@pytest.mark.parametrize("k,n", [(100, 512), (3584, 100), (192, 512)])
def test_shapes_the_formats_cannot_pack_are_refused(k, n):
    with pytest.raises(ValueError, match="cannot pack"):
        lay.packed_bytes("awq", k, n)


def test_quantised_models_hold_about_a_third_of_the_bf16_bytes():
    cfg = json.loads(registry()["qwen2.5-7b"].read_text())
    assert [x[:2] for x in lay.decoder_linears(cfg)] == [(3584, 3584), (3584, 512), (3584, 512), (3584, 3584),
                                                         (3584, 18944), (3584, 18944), (18944, 3584)]
    got = lay.model_weight_bytes(cfg, "awq")
    # 6.53e9 Linear weights at 0.5195 bytes, the two 1.09 GB embeddings and the norms at 2 bytes;
    # the recorded bnb-nf4 arm held 5.60 GB (its NF4 absmax blocks of 64 cost a little more).
    assert 5.55e9 < got < 5.60e9
    assert got == lay.model_weight_bytes(cfg, "gptq")


def test_the_library_kernels_are_gemm():
    marlin = "void marlin::Marlin<__nv_bfloat16, (vllm::ScalarTypeId)1024, (vllm::ScalarTypeId)5, 256, 1, 8, 8, " \
             "true, 4, 8, false>(int4 const*, int4 const*, int4*)"
    exl = "void gemm_half_q_half_gptq_kernel<true, 1>(__half const*, unsigned int const*, unsigned int const*)"
    assert classify_name(marlin) == classify_name(exl) == KernelClass.GEMM
    assert path("awq-marlin", [{"name": short_name(marlin, 90), "per_step": 196}]) == "fused low-bit GEMV (Marlin)"
    assert path("gptq-exllamav2", [{"name": short_name(exl, 90), "per_step": 196},
                                   {"name": "nvjet_sm90_tst", "per_step": 1}]) \
        == "fused low-bit GEMV (gemm_half_q_half_gptq_kernel)"


# -- with torch and the libraries' sources ---------------------------------------------
@pytest.fixture(scope="module")
def gptqmodel_src(tmp_path_factory) -> Path:
    """An unpacked gptqmodel sdist: STEPSCOPE_QUANT_EXT's, else the checkout's wheelhouse copy."""
    ext = Path(os.environ.get("STEPSCOPE_QUANT_EXT", "/tmp/stepscope-quant"))
    found = sorted(p for p in ext.glob("gptqmodel-*") if (p / lay.PACKING_UTILS).is_file())
    if found:
        return found[-1]
    sdists = sorted((ROOT / ".whl" / "quant").glob("gptqmodel-*.tar.gz"))
    if not sdists:
        pytest.skip("no gptqmodel sdist (docs/quant-build.md)")
    out = tmp_path_factory.mktemp("gptqmodel")
    with tarfile.open(sdists[-1]) as t:
        t.extractall(out, filter="data")
    return next(out.glob("gptqmodel-*"))


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def pu(gptqmodel_src, torch):
    return lay.load_packing_utils(gptqmodel_src)


def _codes(torch, k=256, n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 16, (k, n), generator=g, dtype=torch.int32),
            torch.randint(1, 16, (k // lay.GROUP_SIZE, n), generator=g, dtype=torch.int32))


def _nibbles(words: np.ndarray) -> np.ndarray:
    """(..., w) int32 -> (..., w, 8): nibble i of each word, least significant first."""
    return ((words.astype(np.uint32)[..., None] >> (4 * np.arange(8, dtype=np.uint32))) & 0xF).astype(np.int64)


def test_rtn_quantiser_reconstructs_the_weight(torch):
    w = torch.randn(64, 256, generator=torch.Generator().manual_seed(1))   # nn.Linear layout (N, K)
    for sym in (False, True):
        codes, zeros, scales = lay.rtn_quantize(w, symmetric=sym)
        assert codes.shape == (256, 64) and zeros.shape == scales.shape == (2, 64)
        assert int(codes.min()) >= 0 and int(codes.max()) <= 15
        err = (lay.dequantize(codes, zeros, scales) - w.T).abs() / scales.repeat_interleave(lay.GROUP_SIZE, 0)
        assert float(err.max()) <= 1.0 and float(err.mean()) < 0.3          # in quantisation steps
    assert bool((zeros == 8).all())                                          # symmetric: GPTQ's zero 8


def test_gptq_packer_layout(torch, pu):
    codes, zeros = _codes(torch)
    qweight, qzeros = lay.pack_gptq(pu, codes, zeros)
    assert tuple(qweight.shape) == lay.shapes("gptq", 256, 64)["qweight"] and qweight.dtype == torch.int32
    assert tuple(qzeros.shape) == lay.shapes("gptq", 256, 64)["qzeros"]
    # qweight[r, c], nibble i: row 8 r + i of column c; qzeros[g, j], nibble i: column 8 j + i, minus 1
    rows = _nibbles(qweight.numpy()).transpose(0, 2, 1).reshape(256, 64)
    assert (rows == codes.numpy()).all()
    assert (_nibbles(qzeros.numpy()).reshape(2, 64) == zeros.numpy() - 1).all()


def test_awq_packer_layout(torch, pu):
    codes, zeros = _codes(torch)
    qweight, qzeros = lay.pack_awq(pu, codes, zeros)
    assert tuple(qweight.shape) == lay.shapes("awq", 256, 64)["qweight"]
    assert tuple(qzeros.shape) == lay.shapes("awq", 256, 64)["qzeros"]
    # word j, nibble i: column 8 j + AWQ_ORDER[i]
    cols = np.empty((256, 64), np.int64)
    cols.reshape(256, 8, 8)[:, :, AWQ_ORDER] = _nibbles(qweight.numpy())
    assert (cols == codes.numpy()).all()
    # and the library's own reference dequantiser agrees with ours
    scales = torch.rand(2, 64, dtype=torch.float16, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(pu.dequantize_gemm(qweight, qzeros, scales, 4, lay.GROUP_SIZE),
                               lay.dequantize(codes, zeros, scales))


def _gptqmodel_marlin(src: Path, torch):
    """The Marlin permutation functions from gptqmodel's own utils/marlin.py (that module
    imports half the package, so its functions are compiled alone)."""
    wanted = {"get_scale_perms", "_get_scale_perm_tensors", "marlin_permute_scales", "pack_cols", "unpack_cols",
              "marlin_zero_points", "awq_to_marlin_zero_points", "marlin_permute_bias", "get_pack_factor"}
    tree = ast.parse((src / "gptqmodel" / "utils" / "marlin.py").read_text())
    tree.body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted
                 or isinstance(n, ast.ImportFrom) and n.module == "__future__"]   # annotations stay strings
    import threading
    ns = {"torch": torch, "numpy": np, "_SCALE_PERM_TENSOR_CACHE": {}, "_SCALE_PERM_TENSOR_LOCK": threading.Lock()}
    exec(compile(tree, "gptqmodel/utils/marlin.py", "exec"), ns)   # the library's own code
    assert wanted <= set(ns)
    return ns


def test_marlin_permutations_are_gptqmodels(torch, gptqmodel_src, pu):
    gm = _gptqmodel_marlin(gptqmodel_src, torch)
    k, n = 512, 256
    g = torch.Generator().manual_seed(3)
    scales = torch.rand(k // 128, n, generator=g).to(torch.bfloat16)
    torch.testing.assert_close(lay.marlin_permute_scales(scales, k, n, 128), gm["marlin_permute_scales"](scales, k, n, 128),
                               rtol=0, atol=0)
    bias = torch.rand(n, generator=g).to(torch.bfloat16)
    torch.testing.assert_close(lay.marlin_permute_bias(bias), gm["marlin_permute_bias"](bias), rtol=0, atol=0)
    codes, zeros = _codes(torch, k, n, seed=4)
    _, qzeros = lay.pack_awq(pu, codes, zeros)
    assert torch.equal(lay.awq_to_marlin_zero_points(qzeros, k // 128, n),
                       gm["awq_to_marlin_zero_points"](qzeros, k // 128, n, 4))
    assert torch.equal(lay.unpack_cols(qzeros, k // 128, n), gm["unpack_cols"](qzeros, 4, k // 128, n))
