"""The figures README shows from docs/ are what the current code draws: each SVG, re-rendered
by the command README gives, is byte-identical to the committed one."""
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
    assert out.read_bytes() == (ROOT / "docs" / name).read_bytes(), f"docs/{name} is stale: re-render it"
