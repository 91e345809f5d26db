"""The gptq-exllamav2 and awq-marlin arms' CPU side: the formats' sizes, the libraries'
packers against independent unpacking, Marlin's scale and zero-point permutations against
gptqmodel's own code, the kernel names and classes, the error sentences when an extension
is missing, and the gptq-exllamav2 arm's whole path with a fake kernel. The kernels run on
the GPU (benchmarks/quant_build.py check; each arm checks its first layer against
x @ dequantised weight before it is timed).

The library tests need torch and the gptqmodel sdist (docs/quant-build.md: unpacked in
STEPSCOPE_QUANT_EXT, or .whl/quant/gptqmodel-*.tar.gz in the checkout). Where neither is
there, the fixture downloads the pinned sdist from the package registry into .whl/quant/
(git-ignored), checks its sha256, and keeps it for later runs; only where the registry
cannot be reached do they skip (issue 26: they never ran in CI before)."""
import ast
import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from stepscope.analysis.kernel_classes import KernelClass, classify_name, short_name
from stepscope.analysis.results.quant import path
from stepscope.profiler.workloads import int4_layouts as lay
from stepscope.profiler.workloads.decode import registry
from stepscope.profiler.workloads.quantize import ARMS, KERNELS

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


def test_the_library_arms_and_their_kernels():
    assert ARMS[0] == "bf16" and set(KERNELS) == {"gptq-exllamav2", "awq-marlin"} <= set(ARMS)
    marlin = "void marlin::Marlin<__nv_bfloat16, (vllm::ScalarTypeId)1024, (vllm::ScalarTypeId)5, 256, 1, 8, 8, " \
             "true, 4, 8, false>(int4 const*, int4 const*, int4*)"
    exl = "void gemm_half_q_half_gptq_kernel<true, 1>(__half const*, unsigned int const*, unsigned int const*)"
    assert classify_name(marlin) == classify_name(exl) == KernelClass.GEMM
    assert KERNELS["awq-marlin"] in short_name(marlin, 200) and KERNELS["gptq-exllamav2"] in short_name(exl, 200)
    assert path("awq-marlin", [{"name": short_name(marlin, 90), "per_step": 196}]) == "fused low-bit GEMV (Marlin)"
    assert path("gptq-exllamav2", [{"name": short_name(exl, 90), "per_step": 196},
                                   {"name": "nvjet_sm90_tst", "per_step": 1}]) \
        == "fused low-bit GEMV (gemm_half_q_half_gptq_kernel)"


# -- with torch and the libraries' sources ---------------------------------------------
GPTQMODEL_SDIST = "gptqmodel-7.7.0.tar.gz"     # docs/quant-build.md pins it, with its hash
GPTQMODEL_SHA256 = "039874c39fb56ba75b750dd4870968e7fe83b6ca28890a53e94ad3c46be699d0"


def _gptqmodel_sdist(folder: Path) -> Path:
    """The pinned sdist in ``folder``, downloaded there first if it is missing; skip the
    test only when the registry cannot be reached."""
    path = folder / GPTQMODEL_SDIST
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                            "-d", str(folder), "gptqmodel==7.7.0"], capture_output=True, text=True, timeout=300)
        if r.returncode != 0 or not path.is_file():
            pytest.skip(f"no gptqmodel sdist and the registry did not give one ({r.stderr.strip()[-200:]})")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == GPTQMODEL_SHA256, f"{path} is not the pinned sdist (sha256 {digest})"
    return path


@pytest.fixture(scope="module")
def gptqmodel_src(tmp_path_factory) -> Path:
    """An unpacked gptqmodel sdist: STEPSCOPE_QUANT_EXT's, else the checkout's wheelhouse copy."""
    ext = Path(os.environ.get("STEPSCOPE_QUANT_EXT", "/tmp/stepscope-quant"))
    found = sorted(p for p in ext.glob("gptqmodel-*") if (p / lay.PACKING_UTILS).is_file())
    if found:
        return found[-1]
    sdist = _gptqmodel_sdist(ROOT / ".whl" / "quant")
    out = tmp_path_factory.mktemp("gptqmodel")
    with tarfile.open(sdist) as t:
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


def test_marlin_sources_are_generated_by_the_librarys_generator(torch, gptqmodel_src, tmp_path):
    pytest.importorskip("jinja2")
    import shutil

    from stepscope.profiler.workloads import int4_kernels as k4
    root = tmp_path / "gm"
    shutil.copytree(gptqmodel_src / "gptqmodel_ext" / "marlin", root / "gptqmodel_ext" / "marlin")
    src = [p.name for p in k4.marlin_sources(root)]
    assert src[:4] == ["marlin_torch_bf16.cpp", "gptq_marlin_bf16.cu", "gptq_marlin_repack.cu", "awq_marlin_repack.cu"]
    assert "kernel_bf16_ku4.cu" in src and not any("fp16" in s for s in src)   # AWQ's uint4, bf16 only
    kernel_h = (root / "gptqmodel_ext" / "marlin" / "kernel.h").read_text()
    assert "__global__ void Marlin(" in kernel_h and "#define MARLIN_NAMESPACE_NAME marlin" in kernel_h


def test_missing_extensions_are_one_sentence(torch, tmp_path, monkeypatch):
    from stepscope.profiler.errors import WorkloadError
    from stepscope.profiler.workloads import int4_kernels as k4
    monkeypatch.setenv("STEPSCOPE_QUANT_EXT", str(tmp_path))
    with pytest.raises(WorkloadError, match="no gptqmodel_marlin_bf16_ops.so in .*quant_build.sh"):
        k4.load_marlin()
    monkeypatch.setattr(k4.importlib.util, "find_spec", lambda name: None if name == "exllamav2_ext" else object())
    with pytest.raises(WorkloadError, match="no exllamav2_ext in .*quant_build.sh"):
        k4.load_exllamav2()


def test_every_linear_but_lm_head_is_replaced_and_the_first_layer_checked(torch):
    from stepscope.profiler.workloads import int4_kernels as k4
    from stepscope.profiler.workloads.decode import build_model, resolve_model
    model = build_model(resolve_model("tiny-qwen2"), device="cpu", dtype="float32")
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    made = []
    checked = k4.replace_linears(model, lambda lin, first: made.append((lin.in_features, first)) or torch.nn.Identity())
    assert len(made) == len(linears) - 1 and isinstance(model.lm_head, torch.nn.Linear)
    layers = model.config.num_hidden_layers
    assert len(made) == 7 * layers and [f for _, f in made] == [True] * 7 + [False] * 7 * (layers - 1)
    assert len(checked) == 7


class FakeExllamaV2:
    """exllamav2.ext's three names, with a gemm that dequantises the GPTQ tensors it was
    given as the ExLlamaV2 kernel reads them (qzeros + 1), in numpy: the arm's whole path
    on the CPU, the kernel excepted."""

    def __init__(self, torch):
        self.torch, self.mats = torch, []
        self.none_tensor = torch.empty(1, 1, device="meta")
        self.ext_c = self

    def make_q_matrix(self, w, temp_dq, max_dq_rows=0):
        assert temp_dq.is_meta and max_dq_rows == 0 and set(w) <= {"qweight", "qzeros", "scales", "bias"}
        self.mats.append(dict(w))
        return len(self.mats) - 1

    def gemm_half_q_half(self, x, handle, out, force_cuda):
        w = self.mats[handle]
        k, n = w["qweight"].shape[0] * 8, w["qweight"].shape[1]
        codes = _nibbles(w["qweight"].numpy()).transpose(0, 2, 1).reshape(k, n)
        zeros = _nibbles(w["qzeros"].numpy()).reshape(-1, n) + 1
        deq = (codes - np.repeat(zeros, k // zeros.shape[0], 0)) * np.repeat(w["scales"].float().numpy(),
                                                                            k // zeros.shape[0], 0)
        y = x.float().numpy() @ deq + (w["bias"].float().numpy() if "bias" in w else 0)
        out.copy_(self.torch.from_numpy(y))


def _tiny_qwen2_128(torch, tmp_path):
    """tiny-qwen2 widened so that every Linear packs in groups of 128."""
    from stepscope.profiler.workloads.decode import build_model, resolve_model
    cfg = json.loads(registry()["tiny-qwen2"].read_text())
    cfg.update(hidden_size=256, intermediate_size=512, num_attention_heads=4, num_key_value_heads=2)
    (tmp_path / "tiny-qwen2-128.json").write_text(json.dumps(cfg))
    return build_model(resolve_model(str(tmp_path / "tiny-qwen2-128.json")), device="cpu", dtype="float32")


def test_gptq_arm_on_the_cpu_with_a_fake_kernel(torch, gptqmodel_src, monkeypatch, tmp_path):
    from stepscope.profiler.workloads import int4_kernels as k4
    fake = FakeExllamaV2(torch)
    monkeypatch.setattr(k4, "load_exllamav2", lambda: fake)
    monkeypatch.setattr(k4, "gptqmodel_root", lambda: gptqmodel_src)
    model = _tiny_qwen2_128(torch, tmp_path)
    ids = torch.randint(0, model.config.vocab_size, (1, 12))
    with torch.inference_mode():
        ref = model(ids).logits.float()
    lib = k4.quantize_gptq_exllamav2(model)
    assert lib.startswith("exllamav2 ") and "check rel err" in lib
    assert len(fake.mats) == 7 * model.config.num_hidden_layers and next(model.parameters()).dtype == torch.float16
    q = model.model.layers[0].self_attn.q_proj
    assert isinstance(q, k4.GptqExllamaV2Linear) and q.reference is None and q.bias is not None
    with torch.inference_mode():
        got = model(ids).logits.float()
    # 4-bit weights: the same model, roughly (random weights make the logits small and close)
    assert float((got - ref).norm() / ref.norm()) < 0.5


def test_a_wrong_layout_fails_the_arm(torch, gptqmodel_src, monkeypatch, tmp_path):
    from stepscope.profiler.errors import WorkloadError
    from stepscope.profiler.workloads import int4_kernels as k4
    fake = FakeExllamaV2(torch)
    monkeypatch.setattr(k4, "load_exllamav2", lambda: fake)
    monkeypatch.setattr(k4, "gptqmodel_root", lambda: gptqmodel_src)
    monkeypatch.setattr(lay, "pack_gptq", lambda pu, c, z: pu.pack_exllama(c, z, 4))   # no zero - 1
    model = _tiny_qwen2_128(torch, tmp_path)
    with pytest.raises(WorkloadError, match="packed layout is wrong"):
        k4.quantize_gptq_exllamav2(model)
