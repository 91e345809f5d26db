"""analysis/kernel_classes.py on real CUDA kernel names, answers worked out by hand: the
class of a name (first matching pattern wins, case ignored, only the first CLASSIFY_CHARS
characters read), classes per kernel id and per GPU record (copies MEMCPY, sets MEMSET), the
graph-level flag, the qualified name of an Itanium-mangled symbol, and the short name every
table and figure prints: void, template arguments, parameter lists and "(anonymous
namespace)::" dropped (issue 29: never "at::native::::indexSelectSmallIndex"), torch's generic
elementwise/reduce kernels with the op they run appended (demangled or mangled), and
``shorten``: cut at the front with an ellipsis at the first separator that fits, the end kept,
never mid-word while a separator fits. Widths are taken at, above and below a name's length,
and where the kept tail starts inside a word (so the cut the code makes is the best one).

The real names come from the shipped traces (traces/*.stepscope); mangled ones were checked
with c++filt."""
from functools import cache

import numpy as np
import pytest

from stepscope.analysis.intervals import gpu_records
from stepscope.analysis.kernel_classes import (
    CLASSIFY_CHARS,
    KernelClass,
    classify_name,
    classify_names,
    demangle_prefix,
    graph_level,
    record_classes,
    short_name,
    shorten,
)
from stepscope.analysis.trace import load
from stepscope.analysis.trace.model import Trace, table_from_rows

K = KernelClass
TRACES = ["chain-h100", "dram-recovery-h100", "mistral-7b-v0.3-ctx2048-eager-h100", "qwen2.5-7b-ctx2048-eager-h100",
          "qwen2.5-7b-ctx2048-eager-sdpa-no-cudnn-host-h100", "qwen2.5-7b-ctx2048-graph-graphlevel-r10-h100",
          "quant-qwen2.5-7b-ctx2048-awq-marlin-eager-static-h100",
          "quant-qwen2.5-7b-ctx2048-gptq-exllamav2-eager-static-h100",
          "record-qwen2.5-7b-ctx2048-hf-compiled-h200", "record-qwen2.5-7b-ctx2048-hf-eager-h200", "synthetic-h100"]


@pytest.fixture(autouse=True)
def _uncached_short_names():
    """short_name is cached per process: each test computes its names afresh."""
    short_name.cache_clear()
    yield
    short_name.cache_clear()


@cache
def _shipped() -> frozenset:
    out = set()
    for t in TRACES:
        out |= set(load(f"traces/{t}.stepscope").names("kernels"))
    return frozenset(out)


def real(*parts: str) -> str:
    """The one shipped kernel name holding every part."""
    hits = [n for n in _shipped() if all(p in n for p in parts)]
    assert len(hits) == 1, (parts, hits)
    return hits[0]


# Mangled spellings of kernels torch runs (c++filt gives the demangled name in the comment).
#: void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, std::array<char*, 1ul> >(...)
FILL_MANGLED = "_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_11FillFunctorIfEESt5arrayIPcLm1EEEEviT0_T1_"
#: void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<at::native::direct_copy_kernel_cuda(
#: at::TensorIteratorBase&)::{lambda()#3}::operator()() const::{lambda()#5}::operator()() const::{lambda(long)#1}>(...)
COPY_MANGLED = ("_ZN2at6native18elementwise_kernelILi128ELi4EZNS0_22gpu_kernel_impl_nocastIZZZNS0_23direct_copy_kernel_cuda"
                "ERNS_18TensorIteratorBaseEENKUlvE1_clEvENKUlvE3_clEvEUllE_EEvS4_RKT_EUliE_EEviT1_")
#: void at::native::vectorized_elementwise_kernel<8, at::native::(anonymous namespace)::silu_kernel(
#: at::TensorIteratorBase&)::{lambda()#1}::operator()() const::{lambda()#7}::operator()() const::{lambda(c10::Half)#1}, ...>
SILU_MANGLED = ("_ZN2at6native29vectorized_elementwise_kernelILi8EZZZNS0_12_GLOBAL__N_111silu_kernelERNS_18TensorIterator"
                "BaseEENKUlvE_clEvENKUlvE5_clEvEUlN3c104HalfEE_St5arrayIPcLm2EEEEviT0_T1_")
#: void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl<at::native::(anonymous namespace)::
#: pow_tensor_tensor_kernel(at::TensorIteratorBase&)::{lambda()#1}::...::{lambda(float, float)#1}>(...)::{lambda(int)#1}>(...)
POW_MANGLED = ("_ZN2at6native18elementwise_kernelILi128ELi4EZNS0_15gpu_kernel_implIZZZNS0_12_GLOBAL__N_124pow_tensor_tensor"
               "_kernelERNS_18TensorIteratorBaseEENKUlvE_clEvENKUlvE5_clEvEUlffE_EEvS5_RKT_EUliE_EEviT1_")
#: void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::ArgMaxOps<float>, unsigned int, long, 4,
#: 4> >(...)
ARGMAX_MANGLED = "_ZN2at6native13reduce_kernelILi512ELi1ENS0_8ReduceOpIfNS0_9ArgMaxOpsIfEEjlLi4ELi4EEEEEvT1_"


def test_class_numbers_are_fixed():
    """Results store classes by number: the numbering is part of the file format."""
    assert [(c.name, int(c)) for c in KernelClass] == [
        ("GEMM", 0), ("ATTENTION", 1), ("NORM", 2), ("ROTARY", 3), ("REDUCTION", 4), ("COPY", 5), ("ELEMENTWISE", 6),
        ("OTHER", 7), ("MEMCPY", 8), ("MEMSET", 9), ("DEQUANT", 10), ("GRAPH", 11)]


@pytest.mark.parametrize("parts, cls", [
    (("CUDA graph replay (graph-level record",), K.GRAPH),
    (("pytorch_flash::flash_fwd_splitkv_kernel<",), K.ATTENTION),
    (("cudnn_generated_fort_native_sdpa_sm90_flash",), K.ATTENTION),
    (("nvjet_sm90_tst_64x8_64x16_4x1_v_bz_splitK_bias_TNT",), K.GEMM),
    (("cutlass::Kernel2<cutlass_80_simt_sgemm_128x32_8x5_tn_align1>",), K.GEMM),
    (("void gemm_half_q_half_gptq_kernel<",), K.GEMM),
    (("void marlin::Marlin<",), K.GEMM),
    (("triton_red_fused__to_copy_add_embedding_mean_mul_pow_rsqrt_0",), K.NORM),
    (("rsqrt_kernel_cuda",), K.NORM),
    (("cos_kernel_cuda",), K.ROTARY),
    (("sin_kernel_cuda",), K.ROTARY),
    (("reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::ArgMaxOps",), K.REDUCTION),
    (("reduce_kernel<128, 4", "or_kernel_cuda"), K.REDUCTION),
    (("read_reduce",), K.REDUCTION),
    (("copy16",), K.COPY),
    (("memcpy128",), K.COPY),
    (("indexSelectSmallIndex<c10::BFloat16",), K.COPY),
    (("vectorized_gather_kernel<16, long>",), K.COPY),
    (("CatArrayBatchedCopy<at::native::(anonymous namespace)::OpaqueType<2u>",), K.COPY),
    (("masked_fill_kernel",), K.COPY),
    (("silu_kernel", "{lambda()#6}", "vectorized"), K.ELEMENTWISE),
    (("vectorized_elementwise_kernel<4, at::native::CUDAFunctorOnSelf_add<float>",), K.ELEMENTWISE),
    (("triton_poi_fused__unsafe_view_mul_silu_8",), K.ELEMENTWISE),
    (("null_kernel",), K.OTHER),
    (("cuda_vector_set_int4_kernel(",), K.OTHER),
    (("cub::detail::scan::DeviceScanKernel<",), K.OTHER),
])
def test_real_kernels_get_their_class(parts, cls):
    assert classify_name(real(*parts)) == cls


@pytest.mark.parametrize("parts, cls, also", [
    # a torch.compile kernel fusing attention with copies, adds, cats and muls is attention
    (("triton_poi_fused__scaled_dot_product_cudnn_attention__to_copy_", "_where_4"), K.ATTENTION, "copy add cat mul"),
    (("void cublasLt::splitKreduce_kernel<", "true, false, false, false>"), K.GEMM, "reduce"),     # not a reduction
    (("reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::MeanOps",), K.NORM, "reduce"),  # RMSNorm's mean
    (("elementwise_kernel<128, 4, at::native::gpu_kernel_impl<", "pow_tensor_tensor_kernel"), K.NORM, "elementwise"),
    (("elementwise_kernel<128, 4", "neg_kernel_cuda", "{lambda()#9}"), K.ROTARY, "elementwise"),
    (("elementwise_kernel_with_index<int, at::native::arange_cuda_out", "{lambda()#4}"), K.COPY, "elementwise"),
    (("vectorized_elementwise_kernel<4, at::native::FillFunctor<float>",), K.COPY, "elementwise"),
    (("elementwise_kernel<128, 4", "direct_copy_kernel_cuda", "{lambda()#12}"), K.COPY, "elementwise"),
    (("triton_poi_fused_add_arange_index_copy_transpose_view_3",), K.COPY, "add"),
])
def test_the_first_matching_class_wins(parts, cls, also):
    """A name matching several patterns takes the earliest class in PATTERNS' order."""
    name = real(*parts)
    assert all(w in name.lower() for w in also.split())
    assert classify_name(name) == cls


def test_patterns_ignore_case():
    assert classify_name(real("CatArrayBatchedCopy_vectorized", "OpaqueType<4u>")) == K.COPY   # only "Cat", "Copy"
    # only "Fill": "elementwise" would make it ELEMENTWISE
    assert classify_name(real("vectorized_elementwise_kernel<4, at::native::FillFunctor<float>")) == K.COPY
    # torch's softmax and bitsandbytes' dequantisation spell their op with capitals
    assert classify_name("void at::native::(anonymous namespace)::cunn_SoftMaxForward<8, float, float, float, "
                         "at::native::(anonymous namespace)::SoftMaxForwardEpilogue>(float*, float const*, int)") == K.ATTENTION
    assert classify_name("void kDequantizeBlockwise<__nv_bfloat16, 512, 64, 8, 2>(float*, unsigned char*, float*, "
                         "__nv_bfloat16*, int, int)") == K.DEQUANT
    assert classify_name("void vllm::rotary_embedding_kernel<c10::BFloat16, true>(long const*, c10::BFloat16*, "
                         "c10::BFloat16*, c10::BFloat16 const*, int, long, long, int, int, int)") == K.ROTARY


def test_dequantisation_comes_before_the_gemm_it_feeds():
    assert classify_name("void vllm::awq::dequantize_weights(int*, __half*, int*, __half*, int, int, int, int)") == K.DEQUANT
    assert classify_name("dequant_gemm_kernel") == K.DEQUANT


def test_only_the_first_classify_chars_characters_are_classified():
    assert CLASSIFY_CHARS == 16384
    assert classify_name("x" * 16380 + "gemm") == K.GEMM           # "gemm" ends at the last character read
    assert classify_name("x" * 16381 + "gemm") == K.OTHER          # "gem" read, "m" not
    assert classify_name("x" * 16384 + "copy") == K.OTHER


def test_classify_names_gives_each_kernel_the_class_of_its_string():
    strings = [real("nvjet_sm90_tst_64x8_64x16_4x1_v_bz_TNT"), "null_kernel", "copy16", "never used"]
    got = classify_names(strings, np.array([2, 0, 2, 1, 0], np.int64))
    assert got.dtype == np.int64 and got.tolist() == [K.COPY, K.GEMM, K.COPY, K.OTHER, K.GEMM]
    empty = classify_names(strings, np.zeros(0, np.int64))
    assert empty.dtype == np.int64 and empty.shape == (0,)


def _trace(kernel_names, n_memcpy, n_memset):
    t = Trace()
    t.tables["kernels"] = table_from_rows("kernels", {"name": [t.intern(n) for n in kernel_names]})
    t.tables["memcpy"] = table_from_rows("memcpy", {"start_ns": [0] * n_memcpy})
    t.tables["memset"] = table_from_rows("memset", {"start_ns": [0] * n_memset})
    return t


def test_record_classes_are_kernels_by_name_then_memcpy_then_memset():
    t = _trace(["copy16", real("nvjet_sm90_tst_64x8_64x16_4x1_v_bz_TNT"), "copy16"], 3, 2)
    assert record_classes(t, gpu_records(t)).tolist() == [K.COPY, K.GEMM, K.COPY, K.MEMCPY, K.MEMCPY, K.MEMCPY,
                                                          K.MEMSET, K.MEMSET]
    one = _trace(["null_kernel"], 2, 1)        # copies' rows (0, 1) must not index the one kernel
    assert record_classes(one, gpu_records(one)).tolist() == [K.OTHER, K.MEMCPY, K.MEMCPY, K.MEMSET]
    none = _trace([], 1, 1)
    got = record_classes(none, gpu_records(none))
    assert got.dtype == np.int64 and got.tolist() == [K.MEMCPY, K.MEMSET]


def test_graph_level_is_the_capture_kernel_records_flag():
    def with_meta(meta):
        t = Trace()
        t.meta = meta
        return t
    assert graph_level(with_meta({"capture": {"kernel_records": "graph"}})) is True
    assert graph_level(with_meta({"capture": {"kernel_records": "kernel"}})) is False
    assert graph_level(with_meta({"capture": {}})) is False
    assert graph_level(with_meta({"capture": None})) is False
    assert graph_level(with_meta({"kernel_records": "graph"})) is False      # not under capture
    assert graph_level(with_meta({})) is False
    assert graph_level(load("traces/qwen2.5-7b-ctx2048-graph-graphlevel-r10-h100.stepscope")) is True
    assert graph_level(load("traces/qwen2.5-7b-ctx2048-graph-h100.stepscope")) is False


def test_demangle_prefix_gives_the_qualified_name():
    assert demangle_prefix("_ZN2at6native3mulEv") == "at::native::mul"                  # at::native::mul()
    assert demangle_prefix(FILL_MANGLED) == "at::native::vectorized_elementwise_kernel"  # template arguments dropped
    assert demangle_prefix(ARGMAX_MANGLED) == "at::native::reduce_kernel"
    assert demangle_prefix("_ZNK3foo3barEv") == "foo::bar"                              # foo::bar() const
    assert demangle_prefix("_ZNVK3foo3barEv") == "foo::bar"                             # foo::bar() const volatile
    assert demangle_prefix("_ZNr3foo3barEv") == "foo::bar"                              # foo::bar() restrict
    # not nested: the one name, not the parameter type after it (copy_kernel(CopyParams))
    assert demangle_prefix("_Z11copy_kernel10CopyParams") == "copy_kernel"
    assert demangle_prefix("_Z27cuda_vector_set_int4_kernelP6__halfPKS_ii") == "cuda_vector_set_int4_kernel"


def test_demangle_prefix_leaves_other_names_alone():
    for name in ("nvjet_sm90_tst_64x8_64x16_4x1_v_bz_TNT", "void at::native::reduce_kernel<512, 1>(int)", "Z3foov", "", "_Z"):
        assert demangle_prefix(name) == name


@pytest.mark.parametrize("parts, short", [
    (("indexSelectSmallIndex<c10::BFloat16",), "at::native::indexSelectSmallIndex"),          # issue 29
    (("CatArrayBatchedCopy_alignedK_contig<",), "at::native::CatArrayBatchedCopy_alignedK_contig"),
    (("cutlass::Kernel2<cutlass_80_simt_sgemm_128x32_8x5_tn_align1>",), "cutlass::Kernel2"),
    (("void gemm_half_q_half_gptq_kernel<",), "gemm_half_q_half_gptq_kernel"),                 # no namespace
    (("cuda_vector_set_int4_kernel(",), "cuda_vector_set_int4_kernel"),                        # no void, no template
    (("void cublasLt::splitKreduce_kernel<", "true, false, false, false>"), "cublasLt::splitKreduce_kernel"),
    (("elementwise_kernel_with_index<int, at::native::arange_cuda_out", "{lambda()#4}"), "elementwise_kernel_with_index"),
    (("vectorized_gather_kernel<16, long>",), "at::native::vectorized_gather_kernel"),
    (("CUDA graph replay (graph-level record",), "CUDA graph replay"),                         # trailing space dropped
    (("nvjet_sm90_tst_64x8_64x16_4x1_v_bz_splitK_bias_TNT",), "nvjet_sm90_tst_64x8_64x16_4x1_v_bz_splitK_bias_TNT"),
])
def test_short_name_drops_void_templates_parameters_and_anonymous_namespaces(parts, short):
    assert short_name(real(*parts)) == short


def test_short_name_keeps_a_long_name_whole_without_a_width():
    for parts in (("triton_poi_fused__scaled_dot_product_cudnn_attention__to_copy_", "_where_4"),
                  ("cudnn_generated_fort_native_sdpa_sm90_flash",)):
        name = real(*parts)
        assert len(name) > 100 and short_name(name) == name


@pytest.mark.parametrize("parts, short", [
    (("vectorized_elementwise_kernel<4, at::native::FillFunctor<float>",),
     "at::native::vectorized_elementwise_kernel [FillFunctor]"),
    (("reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::ArgMaxOps",), "at::native::reduce_kernel [ArgMaxOps]"),
    (("reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::MeanOps",), "at::native::reduce_kernel [MeanOps]"),
    (("silu_kernel", "{lambda()#6}", "vectorized"), "at::native::vectorized_elementwise_kernel [silu_kernel]"),
    (("elementwise_kernel<128, 4", "direct_copy_kernel_cuda", "{lambda()#12}"),
     "at::native::elementwise_kernel [direct_copy_kernel_cuda]"),
    (("elementwise_kernel<128, 4", "where_kernel_impl", "{lambda()#3}"), "at::native::elementwise_kernel [where_kernel_impl]"),
    (("index_elementwise_kernel<128, 4, at::native::index_copy_kernel_impl",),
     "at::native::index_elementwise_kernel [index_copy_kernel_impl]"),
    (("vectorized_elementwise_kernel<4, at::native::CUDAFunctorOnSelf_add<float>",),
     "at::native::vectorized_elementwise_kernel [CUDAFunctorOnSelf_add]"),
    (("vectorized_elementwise_kernel<2, at::native::CUDAFunctorOnOther_add<long>",),
     "at::native::vectorized_elementwise_kernel [CUDAFunctorOnOther_add]"),
    # BinaryFunctor / AUnaryFunctor say which operands are tensors; the op is the functor inside
    (("vectorized_elementwise_kernel<8, at::native::BinaryFunctor<c10::BFloat16, c10::BFloat16, c10::BFloat16, "
      "at::native::binary_internal::MulFunctor<float> >",), "at::native::vectorized_elementwise_kernel [MulFunctor]"),
    (("vectorized_elementwise_kernel<4, at::native::AUnaryFunctor<float, float, float, "
      "at::native::binary_internal::MulFunctor<float> >",), "at::native::vectorized_elementwise_kernel [MulFunctor]"),
    (("reduce_kernel<512, 1, at::native::ReduceOp<long, at::native::func_wrapper_t<long, at::native::sum_functor",),
     "at::native::reduce_kernel [sum_functor]"),
    (("distribution_elementwise_grid_stride_kernel<float, 4, at::native::templates::cuda::normal_and_transform",),
     "at::native::distribution_elementwise_grid_stride_kernel [normal_kernel]"),
])
def test_generic_torch_kernels_get_the_op_they_run(parts, short):
    assert short_name(real(*parts)) == short


def test_a_lone_operand_wrapper_is_the_op():
    """A BinaryFunctor holding no functor of its own kind still names something."""
    name = "void at::native::vectorized_elementwise_kernel<4, at::native::BinaryFunctor<float, float, float, op<float> > >()"
    assert short_name(name) == "at::native::vectorized_elementwise_kernel [BinaryFunctor]"
    # mangled: BinaryFunctor<c10::BFloat16, c10::BFloat16, c10::BFloat16, binary_internal::MulFunctor<float>>
    mangled = ("_ZN2at6native29vectorized_elementwise_kernelILi8ENS0_13BinaryFunctorIN3c108BFloat16ES4_S4_"
               "NS0_15binary_internal10MulFunctorIfEEEESt5arrayIPcLm3EEEEviT0_T1_")
    assert short_name(mangled) == "at::native::vectorized_elementwise_kernel [MulFunctor]"
    assert short_name(mangled.replace("13BinaryFunctor", "13BUnaryFunctor")) == \
        "at::native::vectorized_elementwise_kernel [MulFunctor]"


def test_the_op_skips_the_gpu_kernel_wrapper():
    # gpu_kernel_impl<...pow_tensor_tensor_kernel...>: the wrapper comes first and ends in _kernel_impl
    assert short_name(real("elementwise_kernel<128, 4, at::native::gpu_kernel_impl<", "pow_tensor_tensor_kernel")) == \
        "at::native::elementwise_kernel [pow_tensor_tensor_kernel]"


def test_mangled_generic_kernels_get_the_op_from_length_prefixed_names():
    assert short_name(FILL_MANGLED) == "at::native::vectorized_elementwise_kernel [FillFunctor]"
    assert short_name(ARGMAX_MANGLED) == "at::native::reduce_kernel [ArgMaxOps]"
    # Li128E, Li4E are integer literals, not a 128-character name that would swallow the op
    assert short_name(COPY_MANGLED) == "at::native::elementwise_kernel [direct_copy_kernel_cuda]"
    # void my_ops::elementwise_kernel<__nv_bfloat16, my_ops::AddFunctor>(__nv_bfloat16*, int): a name may start with
    # "_" (13__nv_bfloat16); read as one, its "16" is not taken for a 16-character name swallowing the op
    assert short_name("_ZN6my_ops18elementwise_kernelI13__nv_bfloat16NS_10AddFunctorEEEvPT_i") == \
        "my_ops::elementwise_kernel [AddFunctor]"
    assert classify_name(FILL_MANGLED) == K.COPY and classify_name(SILU_MANGLED) == K.ELEMENTWISE
    assert classify_name(POW_MANGLED) == K.NORM and classify_name(COPY_MANGLED) == K.COPY


def test_non_generic_mangled_names_get_no_op():
    assert short_name("_Z11copy_kernel10CopyParams") == "copy_kernel"
    assert short_name("_ZN2at6native3mulEv") == "at::native::mul"


def test_short_name_reads_only_the_first_classify_chars_characters():
    assert short_name("x" * 20000) == "x" * 16384
    assert short_name("x" * 20000, 8) == "…xxxxxxx"


def test_a_mangled_name_past_classify_chars_is_read_up_to_the_cut():
    """A name of megabytes is read to CLASSIFY_CHARS: a cut right after a scope's name or inside
    a length prefix ends the qualified name there, and a generic kernel keeps its op."""
    at_a_name = "_ZN6native" + "2ab" * 5458 + "E" + "v" * 100           # the 16384th character ends an "ab"
    assert len("_ZN6native" + "2ab" * 5458) == CLASSIFY_CHARS
    assert short_name(at_a_name) == "native" + "::ab" * 5458
    in_a_prefix = "_ZN6native" + "2ab" * 5457 + "123" + "x" * 200 + "E"    # cut after "123" of a 123-character name
    assert short_name(in_a_prefix).startswith("native" + "::ab" * 5457)
    filler = ("S_" * CLASSIFY_CHARS)[:CLASSIFY_CHARS - 2 - len(FILL_MANGLED)]
    cut_op = FILL_MANGLED + filler + "12" + "abcdefghijkl"                   # the cut falls after "12"
    assert short_name(cut_op) == "at::native::vectorized_elementwise_kernel [FillFunctor]"


def test_a_name_that_fits_is_kept_whole_at_and_above_its_length():
    name = "gemm_half_q_half_gptq_kernel"                  # 28 characters
    assert shorten(name, 28) == shorten(name, 29) == shorten(name, 200) == name
    assert shorten("", 1) == ""


@pytest.mark.parametrize("width, out", [
    (27, "…half_q_half_gptq_kernel"),      # "mm_half…" kept: cut after "mm_"
    (26, "…half_q_half_gptq_kernel"),      # "m_half…": the separator right after the first kept character
    (16, "…gptq_kernel"),                  # "alf_gptq_kernel"
    (11, "…kernel"),                       # "ptq_kernel"
    (7, "…kernel"),                        # "kernel" fits exactly: nothing to cut
    (6, "…ernel"),                         # the last word alone is too long: cut inside it, the only way to fit
])
def test_shorten_cuts_underscored_names_after_a_separator(width, out):
    assert shorten("gemm_half_q_half_gptq_kernel", width) == out


@pytest.mark.parametrize("width, out", [
    (34, "at::native::indexSelectSmallIndex"),
    (33, "at::native::indexSelectSmallIndex"),
    (29, "…indexSelectSmallIndex"),        # "ative::indexSelectSmallIndex": cut after "::", not inside it
    (22, "…indexSelectSmallIndex"),        # exactly the last scope
    (21, "…ndexSelectSmallIndex"),
])
def test_shorten_cuts_scopes_after_the_double_colon(width, out):
    assert shorten("at::native::indexSelectSmallIndex", width) == out
    assert short_name(real("indexSelectSmallIndex<c10::BFloat16"), width) == out


def test_short_name_with_a_width_shortens_the_op_suffixed_name():
    fill = real("vectorized_elementwise_kernel<4, at::native::FillFunctor<float>")   # 55 characters short
    assert short_name(fill, 55) == "at::native::vectorized_elementwise_kernel [FillFunctor]"
    assert short_name(fill, 51) == "…vectorized_elementwise_kernel [FillFunctor]"   # "ative::vectorized…"
    assert short_name(fill, 30) == "…kernel [FillFunctor]"            # "mentwise_kernel [FillFunctor]"
    assert short_name(fill, 23) == "…kernel [FillFunctor]"            # "e_kernel [FillFunctor]"
    assert short_name(FILL_MANGLED, 30) == "…kernel [FillFunctor]"


def test_shorten_cuts_paths_words_and_dots():
    assert shorten("profiler/workloads/decode.py", 19) == "…decode.py"     # "orkloads/decode.py"
    assert shorten("profiler/workloads/decode.py", 9) == "…py"             # "ecode.py"
    assert shorten("CUDA graph replay", 12) == "…replay"                   # "raph replay"


def test_shorten_leaves_no_separator_after_the_ellipsis():
    merged = "nvjet_sm90_tst_64x8_64x16_4x1_v_bz_splitK_bias_TNT .. cublasLt::splitKreduce_kernel"
    assert shorten(merged, 36) == "…cublasLt::splitKreduce_kernel"     # "NT .. cublasLt…": cut at " ", then ". " dropped
    assert shorten("abcdefgh_", 5) == "…fgh_"                           # nothing after the cut: the tail kept


def test_short_name_keeps_what_follows_a_closed_template_and_capital_x():
    # a user's kernel: X is a letter like any other, inside the template arguments or out
    xor = "void my_ops::XorShiftNoiseKernel<XorShift128, float>(float*, unsigned long, int)"
    assert short_name(xor) == "my_ops::XorShiftNoiseKernel"
    assert short_name(xor, 24) == "…XorShiftNoiseKernel"            # "ps::XorShiftNoiseKernel": cut after "::"
    # cuBLAS's GEMV: a templated return type closes before the kernel's own name
    gemv = ("std::enable_if<!T7, void>::type internal::gemvx::kernel<int, int, __nv_bfloat16, __nv_bfloat16, "
            "__nv_bfloat16, float, false, true, true, false, 7, false, cublasGemvParamsEx<int, "
            "cublasGemvTensorStridedBatched<__nv_bfloat16 const>, cublasGemvTensorStridedBatched<__nv_bfloat16 const>, "
            "cublasGemvTensorStridedBatched<__nv_bfloat16>, float> >(cublasGemvParamsEx<int, "
            "cublasGemvTensorStridedBatched<__nv_bfloat16 const>, cublasGemvTensorStridedBatched<__nv_bfloat16 const>, "
            "cublasGemvTensorStridedBatched<__nv_bfloat16>, float>)")
    assert classify_name(gemv) == K.GEMM
    assert short_name(gemv, 20) == "…gemvx::kernel"


# -- label fixes found by the kill tests of issue 31 (each failed on the earlier code) -------

@pytest.mark.parametrize("width, out", [
    (32, "…native::indexSelectSmallIndex"),   # the tail ":native::…" starts at a separator
    (30, "…native::indexSelectSmallIndex"),   # exactly "native::…" after the cut: kept whole
    (23, "…indexSelectSmallIndex"),           # ":indexSelect…": no separator left after the ellipsis
])
def test_shorten_keeps_a_whole_word_that_fits(width, out):
    """Where the kept tail begins right after a separator (or at one), the tail is a whole
    word and is kept, separators stripped: the old code cut again at the next separator and
    dropped 'native::' though it fit, or left ':' after the ellipsis."""
    assert shorten("at::native::indexSelectSmallIndex", width) == out
    assert len(out) <= width


def test_shorten_keeps_whole_underscored_parts_after_an_underscore():
    """'a_b_c_d_e' in 6: the tail 'c_d_e' starts after '_': '…c_d_e', not '…d_e'."""
    assert shorten("a_b_c_d_e", 6) == "…c_d_e"


def test_the_mangled_anonymous_namespace_does_not_hide_the_op():
    """``_GLOBAL__N_1`` (the mangled anonymous namespace) ends in a digit, and the length
    prefix of the op after it (11silu_kernel) must still be read; the namespace itself is
    not printed (c++filt: at::native::(anonymous namespace)::silu_kernel)."""
    vec = "_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_12_GLOBAL__N_111silu_kernelEEEviT0_T1_"
    assert short_name(vec) == "at::native::vectorized_elementwise_kernel [silu_kernel]"
    assert demangle_prefix("_ZN2at6native12_GLOBAL__N_111silu_kernelEv") == "at::native::silu_kernel"


def test_static_functions_are_demangled():
    """``_ZL`` (internal linkage): ``_ZL11some_kernelPf`` is ``some_kernel``."""
    assert demangle_prefix("_ZL11some_kernelPf") == "some_kernel"
    assert short_name("_ZL11some_kernelPf") == "some_kernel"


def test_ncu_unnamed_namespace_is_dropped():
    """Nsight Compute writes the anonymous namespace as ``<unnamed>``: dropped like
    "(anonymous namespace)", never ``at::::indexSelectSmallIndex``."""
    ncu = "at::<unnamed>::indexSelectSmallIndex<float, long, unsigned int, 2, 2, -2>(cuda::TensorInfo<float, unsigned int>)"
    assert short_name(ncu) == "at::indexSelectSmallIndex"


def test_a_templated_return_type_is_not_part_of_the_name():
    """cuBLAS's ``std::enable_if<...>::type internal::gemvx::kernel<...>(...)``: the name
    is ``internal::gemvx::kernel``; a name with a space that is not a return type keeps it."""
    name = "std::enable_if<!T7, void>::type internal::gemvx::kernel<int, int, __nv_bfloat16, float>(cublasGemvParamsEx<int>)"
    assert short_name(name) == "internal::gemvx::kernel"
    assert short_name("CUDA graph replay (graph-level record: 1485 nodes)") == "CUDA graph replay"


@pytest.mark.parametrize("name, cls", [
    ("void at::native::(anonymous namespace)::distribution_elementwise_grid_stride_kernel<float, 4, "
     "at::native::templates::cuda::normal_kernel<at::CUDAGeneratorImpl*>>", KernelClass.ELEMENTWISE),
    ("normal_kernel", KernelClass.OTHER),
    ("normal", KernelClass.OTHER),
    ("batch_normalization_fwd_kernel", KernelClass.NORM),
    ("void cudnn::fusion::lean_reduction_kernel<false, false, false>(void*, float*)", KernelClass.REDUCTION),
    ("RMSNormKernel", KernelClass.NORM),
])
def test_normal_is_not_norm_and_reduction_is_a_reduction(name, cls):
    """torch's normal_ random fill is not a normalisation ("normal" contains "norm"); a
    normalization kernel is; cuDNN's lean_reduction_kernel is a reduction ("reduce" did not
    match "reduction")."""
    assert classify_name(name) == cls


def test_shorten_to_one_character_is_the_ellipsis():
    """Width 1 keeps nothing of the name but the ellipsis (no IndexError on the empty tail)."""
    assert shorten("abc", 1) == "…"
