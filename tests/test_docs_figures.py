"""The figures README shows from docs/ are what the current code draws: each SVG, re-rendered
by the command README gives, is the committed one: the same text between its numbers, and
every number within 0.25 pt. Not byte for byte: the DRAM estimate's least-squares solve
differs in its last digits between numpy/scipy/BLAS builds (0.06 pt in the DRAM lane with
matplotlib 3.11.2, numpy 2.4.6, scipy 1.17.1 against the machine that rendered them), which
no reader can see; a stale figure moves marks by whole points or changes the text."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT

T = "traces/qwen2.5-7b-ctx2048"
FIGURES = {
    "timeline-qwen-eager-static-vs-graph-h100.svg": ["timeline", f"{T}-eager-static-h100.stepscope",
                                                     f"{T}-graph-h100.stepscope"],
    "timeline-qwen-zoom-h100.svg": ["timeline", f"{T}-eager-static-h100.stepscope", f"{T}-graph-h100.stepscope",
                                    "--window", "0:1.5"],
    "attribution-bars.svg": ["bars", *(f"{T}-{m}-{g}.stepscope" for g in ("h100", "h200")
                                       for m in ("eager", "eager-static", "graph"))],
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_docs_svg_is_current(tmp_path, name):
    out = tmp_path / name
    r = subprocess.run([sys.executable, "-m", "stepscope", *FIGURES[name], "-o", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert same_drawing(out.read_bytes(), (ROOT / "docs" / name).read_bytes()), f"docs/{name} is stale: re-render it"


NUMBER = re.compile(rb"-?\d+(?:\.\d+)?")
TOLERANCE_PT = 0.25


def same_drawing(a: bytes, b: bytes) -> bool:
    """The same SVG text between its numbers, and the numbers within TOLERANCE_PT."""
    if NUMBER.split(a) != NUMBER.split(b):
        return False
    na, nb = NUMBER.findall(a), NUMBER.findall(b)
    return all(abs(float(x) - float(y)) <= TOLERANCE_PT for x, y in zip(na, nb))


def test_same_drawing_tells_a_moved_mark_from_a_rounding():
    svg = b'<path d="M 203.503583 277.096493 L 203.734133 277.096493"/>'
    assert same_drawing(svg, svg.replace(b"277.096493", b"277.078571"))
    assert not same_drawing(svg, svg.replace(b"277.096493", b"277.396493"))
    assert not same_drawing(svg, svg.replace(b"M 203", b"L 203"))
    assert not same_drawing(svg, svg + b"<g/>")
