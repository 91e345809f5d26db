"""Kernel names shortened for tables (kernel_classes.shorten)."""
from hypothesis import given, settings
from hypothesis import strategies as st

from stepscope.analysis.kernel_classes import shorten


def test_a_merged_group_name_is_cut_at_a_word():
    assert shorten("nvjet_sm90_tst_64x8_64x16_4x1_v_bz_splitK_bias_TNT .. cublasLt::splitKreduce_kernel", 36) == \
        "…cublasLt::splitKreduce_kernel"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["cublasLt", "splitKreduce", "kernel", "sm90", "x", "at", "native", "..", " ",
                                 "::", "_", "/", "[", "]", "-", ".", "elementwise"]), max_size=40),
       st.integers(8, 70))
def test_shortened_names_keep_the_end_and_start_with_a_word(parts, width):
    """A cut name fits the width, is the name's end after an ellipsis, and never starts
    with a separator after the ellipsis ("….. cublasLt", issue 29)."""
    name = "".join(parts)
    out = shorten(name, width)
    assert len(out) <= width
    if len(name) <= width:
        assert out == name
    else:
        assert out.startswith("…") and name.endswith(out[1:]) and len(out) > 1
        rest = out[1:]
        assert rest == name[len(name) - (width - 1):] or rest[0] not in ":. /_-["
