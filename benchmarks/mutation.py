"""Mutation testing of the analysis and trace-model code with mutmut (3.x), and its summary.

mutmut names a mutant by the file's path (``analysis/trace/steps.py`` ->
``analysis.trace.steps``) while the tests import ``stepscope.analysis.trace.steps``, so
mutmut cannot run in the source checkout (every mutant would read "no tests"). This
script stages a copy in the installed layout (``stepscope/analysis``, ``stepscope/profiler``,
``stepscope/kernels``, plus ``tests/``, ``traces/``, ``benchmarks/results/`` and
``pyproject.toml``, whose ``[tool.mutmut]`` section names the modules and the fast test
selection), runs ``mutmut run`` there, and writes the per-module counts and every
survivor's diff to ``benchmarks/results/mutation.json``.

    python3 -m venv /tmp/mutvenv --system-site-packages && /tmp/mutvenv/bin/pip install mutmut
    PYTHONPATH=$PWD python3 benchmarks/mutation.py --mutmut /tmp/mutvenv/bin/mutmut

``--only stepscope.analysis.gaps*`` passes a mutant-name pattern to mutmut (a partial run;
the summary then covers what has been run so far).
"""
from __future__ import annotations

import argparse
import ast
import difflib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: mutmut's exit codes (mutmut/stats.py ``status_by_exit_code``, 3.8); others: suspicious
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 2: "interrupted", None: "not checked",
          33: "no tests", 34: "skipped", 35: "suspicious", 36: "timeout", 37: "caught by type check",
          -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault"}


def stage(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "mutants")
    shutil.copytree(ROOT / "stepscope", dest / "stepscope", ignore=ignore)
    for folder in ("analysis", "profiler", "kernels"):
        shutil.copytree(ROOT / folder, dest / "stepscope" / folder, ignore=ignore)
    for folder in ("tests", "traces", "benchmarks/results"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")


def _diffs(source: str) -> dict[str, str]:
    """Each mutant's one-line diff against its original, from mutmut's mutated source
    (``x_f__mutmut_orig`` and ``x_f__mutmut_N`` side by side); faster than `mutmut show`."""
    tree = ast.parse(source)
    lines = source.splitlines()
    funcs = {n.name: "\n".join(lines[n.lineno - 1:n.end_lineno]) for n in ast.walk(tree)
             if isinstance(n, ast.FunctionDef)}
    out = {}
    for name, text in funcs.items():
        base, _, n = name.rpartition("__mutmut_")
        if not base or n == "orig" or base + "__mutmut_orig" not in funcs:
            continue
        a = funcs[base + "__mutmut_orig"].splitlines()
        b = text.replace(name, base + "__mutmut_orig", 1).splitlines()
        lines = [x.strip() for x in difflib.unified_diff(a, b, lineterm="", n=0)
                 if x[:1] in "+-" and not x.startswith(("+++", "---"))]
        out[name] = " || ".join(lines)
    return out


def collect(dest: Path) -> dict:
    """Per module: counts by status, and the diff of every survivor."""
    modules: dict[str, dict] = {}
    for meta in sorted((dest / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        rel = meta.relative_to(dest / "mutants").with_suffix("").with_suffix("")
        mod = ".".join(rel.parts)
        diffs = _diffs(meta.with_suffix("").read_text())
        counts: dict[str, int] = {}
        survivors = []
        for name, code in sorted(data.get("exit_code_by_key", {}).items(),
                                 key=lambda kv: (kv[0].rpartition("__mutmut_")[0], int(kv[0].rpartition("_")[2]))):
            status = STATUS.get(code, "suspicious")
            counts[status] = counts.get(status, 0) + 1
            if status in ("survived", "no tests"):
                survivors.append({"mutant": name, "status": status, "diff": diffs.get(name.rpartition(".")[2], "?")})
        modules[mod] = {"counts": counts, "total": sum(counts.values()), "survivors": survivors}
    return modules


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mutmut", default="mutmut", help="the mutmut executable (3.x)")
    p.add_argument("--stage", default="/tmp/stepscope-mutation", help="staging folder (rebuilt unless --resume)")
    p.add_argument("--resume", action="store_true", help="keep the staging folder and mutmut's results in it")
    p.add_argument("--only", nargs="*", default=[], help="mutant-name patterns passed to `mutmut run`")
    p.add_argument("--max-children", type=int, default=2)
    p.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "mutation.json"))
    a = p.parse_args(argv)
    dest = Path(a.stage)
    if not a.resume:
        stage(dest)
    r = subprocess.run([a.mutmut, "run", "--max-children", str(a.max_children), *a.only], cwd=dest)
    modules = collect(dest)
    out = {"tool": subprocess.run([a.mutmut, "--version"], capture_output=True, text=True, cwd=dest).stdout.strip(),
           "command": "PYTHONPATH=$PWD python3 benchmarks/mutation.py --mutmut /tmp/mutvenv/bin/mutmut",
           "mutmut_exit": r.returncode, "modules": modules}
    Path(a.output).write_text(json.dumps(out, indent=1) + "\n")
    for mod, m in modules.items():
        print(f"{mod:45s} {m['total']:4d} mutants  " + ", ".join(f"{k} {v}" for k, v in sorted(m["counts"].items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
