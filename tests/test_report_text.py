"""The text of `stepscope report`, as a person reads it, on each kind of shipped trace:
a golden of the full text (tests/golden/text/, rewritten by tests/golden/regenerate.py),
and every number printed in it checked against the JSON report of the same trace, so a
renderer that prints a wrong number (a unit slip, a wrong column, a wrong total) fails.

Goldens compare as tests/conftest.py says: numbers to 1e-4 or one unit of their last
printed digit, and the PM-deconvolution estimate's sections (their per-kernel split moves
with the CPU's BLAS kernels) loosely: classes to ESTIMATE_REL, its kernel rows by count."""
import json
import re

import numpy as np
import pytest
from analysis_cache import CachedAnalysis

from conftest import ESTIMATE_REL, ROOT, TRACES, same_text
from stepscope.analysis.facade import TraceAnalysis
from stepscope.analysis.render.console import ConsoleRenderer
from stepscope.analysis.render.json_report import JsonRenderer
from stepscope.cli import load_trace

GOLDEN = ROOT / "tests" / "golden" / "text"
#: One shipped trace of each kind the report treats differently.
KINDS = {
    "native eager (dynamic cache)": "qwen2.5-7b-ctx2048-eager-h100.stepscope",
    "native eager-static, host spans": "qwen2.5-7b-ctx2048-eager-static-host-h100.stepscope",
    "native graph": "qwen2.5-7b-ctx2048-graph-h100.stepscope",
    "graph-level records": "qwen2.5-7b-ctx2048-graph-graphlevel-r10-h100.stepscope",
    "graph arm with a graph-level block": "qwen2.5-7b-ctx2048-graph-mainjob-h200.stepscope",
    "counter pass": "qwen2.5-7b-ctx2048-eager-static-counters-h100.stepscope",
    "Python stack samples": "qwen2.5-7b-ctx2048-eager-static-stacks-h100.stepscope",
    "Kineto (torch.profiler)": "kineto-qwen2.5-7b-ctx2048-eager-h100.json.gz",
    "quant (AWQ Marlin, graph)": "quant-qwen2.5-7b-ctx2048-awq-marlin-graph-h100.stepscope",
    "constructed (two modes)": "synthetic-h100.stepscope",
}
#: Sections of the text that print the PM-deconvolution estimate.
ESTIMATE_SECTIONS = ("DRAM bytes per step", "DRAM per kernel (pm deconvolution")


def report_text(name: str) -> str:
    """The report's text (the analysis kept on disk during renderer mutation runs only:
    tests/analysis_cache.py)."""
    return ConsoleRenderer().render(CachedAnalysis(TRACES / name))


def texts(name: str) -> tuple[str, dict]:
    a = TraceAnalysis(load_trace(TRACES / name))
    return ConsoleRenderer().render(a), json.loads(JsonRenderer().render(a))


def sections(text: str) -> list[list[str]]:
    out = [[]]
    for line in text.splitlines():
        if line:
            out[-1].append(line)
        elif out[-1]:
            out.append([])
    return [s for s in out if s]


def same_estimate_section(got: list[str], want: list[str]) -> str | None:
    """The estimate's sections: the same lines in the same form; class rows (in any
    order: they are sorted by an estimated value) to ESTIMATE_REL; the rows of its
    kernels, which another CPU can rank differently, by count; checks by name."""
    if len(got) != len(want):
        return f"{len(got)} lines != {len(want)}: {want[0]}"
    kernel_rows = False
    for g, w in zip(sorted(got) if want[0].startswith("DRAM bytes") else got,
                    sorted(want) if want[0].startswith("DRAM bytes") else want):
        if w.startswith("  kernels losing the most time"):
            kernel_rows = True
        elif not w.startswith("    "):
            kernel_rows = False
        if w.startswith("  check ok") or w.startswith("  VIOLATION"):
            if g.split(":")[0] != w.split(":")[0]:
                return f"{g!r} != {w!r}"
        elif not (kernel_rows and w.startswith("    ")) and same_text(g, w, ESTIMATE_REL) is not None:
            return f"{g!r} != {w!r}"
    return None


def same_report_text(got: str, want: str) -> str | None:
    gs, ws = sections(got), sections(want)
    if [s[0][:30] for s in gs] != [s[0][:30] for s in ws]:
        return f"sections {[s[0][:30] for s in gs]} != {[s[0][:30] for s in ws]}"
    estimate = "DRAM per kernel (pm deconvolution" in want
    for g, w in zip(gs, ws):
        if estimate and w[0].startswith(ESTIMATE_SECTIONS):
            diff = same_estimate_section(g, w)
        else:
            diff = None if len(g) == len(w) else f"{len(g)} lines != {len(w)}: {w[0]}"
            diff = diff or next((f"{a!r} != {b!r}" for a, b in zip(g, w) if same_text(a, b, 1e-4) is not None), None)
        if diff:
            return diff
    return None


def test_every_kind_has_a_text_golden():
    assert {f"{n}.txt" for n in KINDS.values()} == {p.name for p in GOLDEN.glob("*.txt")}


@pytest.mark.parametrize("name", KINDS.values(), ids=KINDS.keys())
def test_report_text_matches_golden(name):
    want = (GOLDEN / f"{name}.txt").read_text()
    diff = same_report_text(report_text(name) + "\n", want)
    assert diff is None, diff


def test_the_golden_comparison_fails_on_a_wrong_number():
    """The comparison is not blind: one digit off, a row gone, or an estimate's class
    off by more than ESTIMATE_REL fails."""
    want = (GOLDEN / KINDS["native graph"]).with_name(KINDS["native graph"] + ".txt").read_text()
    assert same_report_text(want, want) is None
    assert same_report_text(want.replace("43.8%", "43.9%", 1), want) is not None
    lines = want.splitlines()
    row = next(i for i, x in enumerate(lines) if x.startswith("  gemm "))
    assert same_report_text("\n".join(lines[:row] + lines[row + 1:]), want) is not None
    est = next(i for i, x in enumerate(lines) if x.startswith("  graph    gemm"))
    bumped = lines[:est] + [lines[est].replace("14.022 [", "16.022 [")] + lines[est + 1:]
    assert same_report_text("\n".join(bumped), want) is not None


# -- every printed number is the JSON report's --------------------------------------
#: Units the renderer divides by (ns -> us/ms, bytes -> MB/GB, B/s -> GB/s and TB/s) ...
FACTORS = (1.0, 1e-3, 1e-6, 1e-9, 1e-12)
#: ... and fractions (at most 1) as percentages.
PERCENT = 100.0
_NUM = re.compile(r"(?:(?<=[\s(\[,=/])[-+])?(?<![\w.])\d+(?:\.(\d+))?(?![\w])")
#: Fixed words of the layout that hold digits: no value.
LAYOUT = ("95% interval", "95% intervals", "95% CI", "(a)", "(b)", "(c)", "<1us", "1-2us", "2-5us", "5-10us",
          "10-20us", "20-50us", "50-100us", "0.1-1ms", ">1ms", "+-", "under 2 us", "(+5%)", ">= 0")


def _values(x) -> list[float]:
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return []
    if isinstance(x, (int, float)):
        return [float(x)]
    if isinstance(x, dict):
        return [v for k in x for v in _values(x[k])]
    return [v for item in x for v in _values(item)]


def _strings(x) -> list[str]:
    if isinstance(x, str):
        return [x]
    if isinstance(x, dict):
        return [s for v in x.values() for s in _strings(v)]
    if isinstance(x, list):
        return [s for v in x for s in _strings(v)]
    return []


def derived(d: dict) -> list[float]:
    """The figures the text prints that are arithmetic on the JSON report's fields, each by
    its documented formula: shares of a step, medians over steps, rates over busy time."""
    out = []
    for m in d["summary"]["modes"].values():
        step = m["step_ms"] or 1.0
        out += [100 * (m[k] or 0) / step for k in ("floor_ms", "kernel_inefficiency_ms", "launch_overhead_ms",
                                                   "other_idle_ms", "busy_ms")]
        if m["dram_gb"]:
            out.append(m["dram_gb"] / max(m["busy_ms"] / 1e3, 1e-12))
        g = m.get("graph_level") or {}
        if g:           # the graph-level block's parts, shares of its own traced step
            out += [100 * g[k] / g["step_ms"] for k in ("busy_ms", "launch_overhead_ms", "other_idle_ms")]
        # the untraced-equivalent parts (the verdict's shares), of the graph-level block's and the arm's
        for eq in (g.get("untraced_equivalent"), m.get("untraced_equivalent")):
            if eq:
                busy = eq["floor_ms"] + eq["kernel_inefficiency_ms"]
                out += [busy, 100 * busy / eq["untraced_step_ms"]]
                out += [100 * (eq[k] or 0) / (eq["untraced_step_ms"] or 1.0)
                        for k in ("floor_ms", "kernel_inefficiency_ms", "launch_overhead_ms", "other_idle_ms")]
    h = d["host"]
    med = {k: float(np.median(v)) for k, v in h["per_step"].items()}
    total = max(float(np.median(d["steps"]["launch_overhead_ns"])), 1.0)
    out += list(med.values()) + [100 * med[k] / total for k in ("launch_api_ns", "other_api_ns", "framework_ns")]
    ps, idle = h["per_step"], np.asarray(d["steps"]["launch_overhead_ns"])
    out.append(float(np.abs(np.asarray(ps["launch_api_ns"]) + ps["other_api_ns"] + ps["framework_ns"] - idle).max()))
    dk = d["dram_kernels"]
    if dk.get("source", "none") != "none" and "write_offset_ns" in dk:
        out.append(dk["write_offset_ns"] - dk["read_offset_ns"])
    return out


def unmatched(text: str, d: dict) -> list[str]:
    """Each printed number (at its printed precision) that no JSON value, nor a derived
    figure, rounds to in any of the renderer's units: '<number> in <line>'."""
    vals = np.asarray(_values(d) + derived(d), float)
    vals = np.concatenate([vals * f for f in FACTORS] + [vals[np.abs(vals) <= 1] * PERCENT])
    names = sorted(set(_strings(d)), key=len, reverse=True)
    bad = []
    # A long line is wrapped (console.fit): read the text as one run of words, so a name
    # or a detail string wrapped over two lines is still recognised whole.
    rest = re.sub(r"\s+", " ", text)
    for s in names:
        s = re.sub(r"\s+", " ", s)
        if len(s) > 3 and s in rest:
            rest = rest.replace(s, " ")
    for s in LAYOUT:
        rest = rest.replace(s, " ")
    for m in _NUM.finditer(rest):
        x = float(m.group())
        half = 0.5 * 10.0 ** -len(m.group(1) or "")
        if not (np.abs(np.abs(vals) - abs(x)) <= half * (1 + 1e-9) + 1e-12).any():
            bad.append(f"{m.group()} in {rest[max(m.start() - 50, 0):m.end() + 30]!r}")
    return bad


@pytest.mark.parametrize("name", KINDS.values(), ids=KINDS.keys())
def test_every_printed_number_is_in_the_json_report(name):
    text, d = texts(name)
    bad = unmatched(text, d)
    assert not bad, bad[:10]


def test_the_number_check_catches_unit_slips():
    """A number printed in the wrong unit (x1000, /1e9 -> *1e9) or from the wrong total is
    not in the JSON report: the check fails."""
    text, d = texts(KINDS["native eager-static, host spans"])
    assert not unmatched(text, d)
    host = next(x for x in text.splitlines() if "CPU time per kernel launched" in x)
    us = re.search(r"([\d.]+) us outside", host).group(1)
    wrong = text.replace(host, host.replace(f"{us} us outside", f"{float(us) * 1e6:.2f} us outside"))
    assert unmatched(wrong, d)
    row = next(x for x in text.splitlines() if x.startswith("    (c) framework"))
    assert unmatched(text.replace(row, row[:-7] + " 2838.9%"), d)


def test_readme_shows_the_report_as_printed():
    """README's `stepscope report` block of the graph trace: every line shown is printed so."""
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("```\nstepscope report: qwen2.5-7b") + 4:]
    block = block[:block.index("\n```")].splitlines()
    text = report_text(KINDS["native graph"]).splitlines()
    assert block[0] == text[0] and block[-1] == "  ..."
    assert all(line in text for line in block[:-1] if line), [x for x in block[:-1] if x and x not in text]


#: Trace kinds beyond KINDS whose reports hold other sections (step detection, records of
#: a user's program, counter chains, host spin).
MORE_KINDS = ["host-spin-h100.stepscope", "chain-counters-h100.stepscope", "dram-recovery-counters-h100.stepscope",
              "record-qwen2.5-7b-ctx2048-hf-compiled-h200.stepscope", "llama-3.1-8b-ctx2048-eager-h100.stepscope",
              "kineto-qwen2.5-7b-ctx2048-hf-compiled-h200.json.gz", "stack-spin-h100.stepscope",
              "qwen2.5-7b-ctx2048-eager-host-h100.stepscope"]


@pytest.mark.parametrize("name", list(KINDS.values()) + MORE_KINDS)
def test_report_lines_fit_100_columns(name):
    """No line of a report is wider than 100 characters (a long one is wrapped at a space,
    never inside a number or a name's word)."""
    from stepscope.analysis.render.console import WIDTH
    text = texts(name)[0]
    wide = [x for x in text.splitlines() if len(x) > WIDTH]
    assert WIDTH == 100 and not wide, wide[:3]


def test_fit_wraps_at_spaces_with_an_indent():
    from stepscope.analysis.render.console import fit
    line = "  check ok   " + " ".join(f"word{i} 12.345" for i in range(20))
    out = fit([line, "short"])
    assert all(len(x) <= 100 for x in out) and out[-1] == "short" and len(out) > 2
    assert all(x.startswith("    ") for x in out[1:-1])
    assert " ".join(x.strip() for x in out[:-1]) == line.strip()
