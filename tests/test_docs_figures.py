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


#: matplotlib names a reused path (a marker, a filled area) by a hash of its coordinates at
#: full precision and the salt: the last-digit differences above change the name, not the
#: drawing. Names are compared by their order of first use instead.
PATH_ID = re.compile(rb"\b([a-z])([0-9a-f]{10})\b")


def _ids_in_order(svg: bytes) -> bytes:
    seen: dict[bytes, bytes] = {}
    return PATH_ID.sub(lambda m: seen.setdefault(m.group(0), m.group(1) + b"id%d" % len(seen)), svg)


def same_drawing(a: bytes, b: bytes) -> bool:
    """The same SVG text between its numbers, and the numbers within TOLERANCE_PT, path
    names compared by their order of first use."""
    a, b = _ids_in_order(a), _ids_in_order(b)
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


def test_same_drawing_names_paths_by_order_of_use():
    """Two renders whose path names differ (hashes of last digits) are the same drawing
    when each name is used in the same places; a name used elsewhere is not."""
    a = b'<path id="m84903d3658" d="M 1 2"/><use xlink:href="#m84903d3658"/><use xlink:href="#m0123456789"/>'
    b = a.replace(b"m84903d3658", b"m9f8cdf02dc").replace(b"m0123456789", b"mabcdefabcd")
    assert same_drawing(a, b)
    assert not same_drawing(a, a.replace(b'href="#m84903d3658"', b'href="#m0123456789"'))
