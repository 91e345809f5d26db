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
