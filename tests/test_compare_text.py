"""`stepscope compare`'s text on the committed H100 and H200 sweeps, pinned whole: the
answer to the paper's question says the data are not evidence either way (as README
does), and no line is wider than 100 characters (issue 29)."""
from conftest import RESULTS, ROOT
from stepscope.cli import main

GOLDEN = ROOT / "tests" / "golden" / "compare" / "sweep-h100-h200.txt"


def test_compare_text_matches_golden(tmp_path, capsys):
    assert main(["compare", str(RESULTS / "sweep-h100"), str(RESULTS / "sweep-h200"), "-o", str(tmp_path / "c")]) == 0
    text = "\n".join(x for x in capsys.readouterr().out.splitlines() if not x.startswith("wrote "))
    assert text + "\n" == GOLDEN.read_text()
    assert "which are not evidence either way" in text and "? no." not in text
    assert max(len(x) for x in text.splitlines()) <= 100
