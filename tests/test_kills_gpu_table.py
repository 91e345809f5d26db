"""analysis/gpu_table.py on constructed GPU tables (issue 31): which entries are refused and
with which sentence (each figure, the measured block's sources and value/lo/hi order, at the
edges: zero is not positive, lo == value == hi is allowed), how a name is found (name or
alias in any case, else the longest name or alias inside an NVML name, else the one-sentence
refusal listing the table), and the achievable fraction without a calibrated entry."""
import copy
import json

import pytest

from stepscope.analysis import gpu_table as G


def entry(name="G1", aliases=(), measured=None, **over):
    e = {"name": name, "aliases": list(aliases)}
    for f in G.FIGURES:
        e[f] = {"value": "HBM3" if f == "memory_type" else 10.0, "source": "datasheet"}
    if measured is not None:
        e["measured"] = measured
    for k, v in over.items():
        e[k] = v
    return e


def fig(value=5.0, lo=4.0, hi=6.0, source="calibrate"):
    return {"value": value, "lo": lo, "hi": hi, "source": source}


def refused(e, path="t.json"):
    with pytest.raises(ValueError) as x:
        G.check_entry(e, path)
    return str(x.value)


def test_a_good_entry_passes_at_the_edges():
    G.check_entry(entry(), "t.json")
    G.check_entry(entry(measured={"achievable_bytes_per_s": fig(5.0, 5.0, 5.0), "graph_node_ns": fig()}), "t.json")
    G.check_entry(entry(l2_bytes={"value": 1, "source": "x"}, memory_type={"value": "", "source": "x"}), "t.json")


def test_entries_without_a_name_are_refused():
    for e in ({}, {"name": ""}, {"name": 3}, "L4", None):
        assert refused(e) == "t.json: a GPU entry has no name."


@pytest.mark.parametrize("f", G.FIGURES)
def test_each_figure_needs_a_source_and_a_value(f):
    assert refused(entry(**{f: {"value": 1.0}})) == f"t.json: G1 has no {f} with a source."
    assert refused(entry(**{f: {"value": 1.0, "source": "  "}})) == f"t.json: G1 has no {f} with a source."
    assert refused(entry(**{f: 5})) == f"t.json: G1 has no {f} with a source."
    bad = 7 if f == "memory_type" else 0
    assert refused(entry(**{f: {"value": bad, "source": "s"}})) == f"t.json: G1's {f} is not a positive number."
    if f != "memory_type":
        assert refused(entry(**{f: {"value": "10", "source": "s"}})) == f"t.json: G1's {f} is not a positive number."
        G.check_entry(entry(**{f: {"value": 0.5, "source": "s"}}), "t.json")


def test_measured_figures_need_a_known_name_a_source_and_ordered_bounds():
    unknown = "t.json: G1's measured {} is unknown or has no source."
    assert refused(entry(measured={"peak": fig()})) == unknown.format("peak")
    assert refused(entry(measured={"graph_node_ns": 3})) == unknown.format("graph_node_ns")
    assert refused(entry(measured={"graph_node_ns": fig(source=" ")})) == unknown.format("graph_node_ns")
    assert refused(entry(measured={"graph_node_ns": {"value": 1, "lo": 1, "hi": 1}})) == unknown.format("graph_node_ns")
    order = "t.json: G1's measured graph_node_ns needs value, lo and hi with lo <= value <= hi."
    for f in (fig(5.0, 6.0, 7.0), fig(5.0, 3.0, 4.0), fig(0.0, 0.0, 1.0), fig(5.0, 4.0, "6"),
              {"value": 1.0, "lo": 1.0, "source": "s"}):
        assert refused(entry(measured={"graph_node_ns": f})) == order
    G.check_entry(entry(measured={"graph_node_ns": fig(0.5, 0.5, 0.5)}), "t.json")
    G.check_entry(entry(measured={}), "t.json")
    G.check_entry(entry(measured=None), "t.json")


def test_the_table_is_read_and_every_entry_checked(tmp_path):
    p = tmp_path / "gpus.json"
    p.write_text(json.dumps({"gpus": [entry("A"), entry("B")]}))
    assert [e["name"] for e in G.load_table(p)] == ["A", "B"]
    p.write_text(json.dumps(entry("One")))                  # a file of one entry (--gpu-spec)
    assert [e["name"] for e in G.load_table(p)] == ["One"]
    p.write_text(json.dumps({"gpus": [entry("A"), {"name": "B"}]}))
    with pytest.raises(ValueError, match=f"^{p}: B has no peak_bytes_per_s with a source.$"):
        G.load_table(p)
    p.write_text("{")
    with pytest.raises(ValueError, match=f"^{p} is not a readable JSON GPU table.$"):
        G.load_table(p)
    with pytest.raises(ValueError, match="is not a readable JSON GPU table"):
        G.load_table(tmp_path / "missing.json")


TABLE = [entry("H100 SXM", ["NVIDIA H100 80GB HBM3", "H100"]), entry("H100 PCIe", ["NVIDIA H100 PCIe"]),
         entry("L4", ["NVIDIA L4"]), entry("L40S"), entry("Plain")]


def test_find_by_name_or_alias_in_any_case_then_the_longest_inside():
    assert G.find(TABLE, " h100 sxm ")["name"] == "H100 SXM"
    assert G.find(TABLE, "NVIDIA H100 80GB HBM3")["name"] == "H100 SXM"      # an alias, exactly
    assert G.find(TABLE, "nvidia h100 pcie")["name"] == "H100 PCIe"
    assert G.find(TABLE, "PLAIN")["name"] == "Plain"                          # no aliases key needed
    # inside an NVML name: the longest that fits ("H100 PCIe" over "H100"; "L40S" over "L4")
    assert G.find(TABLE, "Some H100 PCIe board")["name"] == "H100 PCIe"
    assert G.find(TABLE, "nvidia l40s 48gb")["name"] == "L40S"
    assert G.find(TABLE, "my h100 card")["name"] == "H100 SXM"
    assert G.find(TABLE, "(L4)")["name"] == "L4"
    for other in ("NVIDIA L40", "GH100", "H1000", "NVIDIA L4x"):       # whole words only
        with pytest.raises(ValueError, match=f"^no GPU called '{other}' in the table"):
            G.find(TABLE, other)
    assert G.contains_name("a l4-b", "l4") and not G.contains_name("al4", "l4") and not G.contains_name("l4b", "l4")
    with pytest.raises(ValueError) as x:
        G.find(TABLE, "T4")
    assert str(x.value) == ("no GPU called 'T4' in the table (known: H100 SXM, H100 PCIe, L4, L40S, Plain); "
                            "pass --gpu-spec FILE for another GPU.")


def test_an_entry_without_aliases_and_a_tie_between_contained_names():
    bare = {k: v for k, v in entry("Bare").items() if k != "aliases"}
    table = [bare, entry("AB"), entry("CD")]
    assert G.find(table, "bare")["name"] == "Bare" and G.find(table, "the bare one")["name"] == "Bare"
    assert G.find(table, "ab cd")["name"] == "AB"          # two names of one length inside: the first listed


def test_the_achievable_fraction_of_calibrated_entries():
    def cal(peak, v, lo, hi):
        return entry(peak_bytes_per_s={"value": peak, "source": "s"}, measured={"achievable_bytes_per_s": fig(v, lo, hi)})
    assert G.achievable_fraction([entry(), entry()]) == (1.0, 1.0, 1.0)
    assert G.achievable_fraction([]) == (1.0, 1.0, 1.0)
    got = G.achievable_fraction([cal(10.0, 8.0, 7.0, 9.0), entry(), cal(20.0, 18.0, 17.0, 19.5)])
    assert got == pytest.approx((0.85, 0.7, 0.975), rel=1e-12)       # median(0.8, 0.9); min lo; max hi


def test_the_shipped_table_passes_its_checks():
    entries = G.load_table()
    assert [e["name"] for e in entries] == ["L4", "L40S", "A100-80GB SXM", "A100-40GB", "H100 SXM", "H100 PCIe", "H200"]
    assert G.find(entries, "NVIDIA A100-SXM4-40GB")["name"] == "A100-40GB"
    assert copy.deepcopy(entries) == G.load_table()
