"""Rewrite the report goldens from the current code: only when a change means to change
what `stepscope report --json` prints (say so in the commit)."""
import gzip
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "golden" / "report"
for p in sorted((ROOT / "traces").iterdir()):
    if p.name.endswith((".stepscope", ".json.gz")):
        r = subprocess.run([sys.executable, "-m", "stepscope", "report", str(p), "--json"],
                           capture_output=True, text=True, check=True, cwd=ROOT)
        (OUT / f"{p.name}.json.gz").write_bytes(gzip.compress(r.stdout.encode(), 9, mtime=0))
        print("wrote", OUT / f"{p.name}.json.gz")

# The full text of `stepscope report` on one trace of each kind (tests/test_report_text.py).
sys.path.insert(0, str(ROOT / "tests"))
import test_report_text as T  # noqa: E402

for name in T.KINDS.values():
    (T.GOLDEN / f"{name}.txt").write_text(T.texts(name)[0] + "\n")
    print("wrote", T.GOLDEN / f"{name}.txt")
