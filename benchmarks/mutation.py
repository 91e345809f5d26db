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
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: mutmut's exit codes (mutmut/stats.py ``status_by_exit_code``, 3.8); others: suspicious
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 2: "interrupted", None: "not checked",
          33: "no tests", 34: "skipped", 35: "suspicious", 36: "timeout", 37: "caught by type check",
          -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault"}


#: Survivors judged equivalent: (regex on the diff's "+" side, why no valid input can tell the
#: mutant from the original). Each is a reviewed class, not a wildcard; mutation.md lists them.
EQUIVALENT = [
    (r"\+.*(np\.(zeros|ones|empty|full|array|asarray|arange)\(.*|\.astype\()\s*(None|)\s*\)",
     "dtype argument dropped or None: numpy's default here is the same dtype (int64 / float64 / bool "
     "from the values on 64-bit Linux), or the array is used where the dtype does not matter"),
    (r"\+.*dtype=None", "dtype=None: numpy infers int64 from the values, as asked"),
    (r"\+.*np\.(asarray|array)\([^,]+, *(None|)\)", "float conversion dropped: inputs are already float, "
     "and the arithmetic after it is true division"),
    (r"\+.*argsort\(.*kind=(None|\"STABLE\")|\+.*argsort\([^,]+, \)",
     "sort stability: the sorted keys (step starts, step indices, PM sample starts) are distinct in any "
     "valid trace, and numpy accepts kind names in any case"),
    (r"\+.*np\.clip\(i, None, None\)", "the clipped index is only used where i >= 0 (masked by ok)"),
    (r"\+.*vectorized=(None|False)|\+.*n_resamples=n_resamples, method=\"PERCENTILE\"|\+.*vectorized=True, n_re",
     "scipy.stats.bootstrap: vectorized is detected from the statistic's axis argument; method names are "
     "case-insensitive; confidence_level defaults to 0.95 (the only level the caller passes)"),
    (r"\+.*integers\(n, size", "Generator.integers(n) draws from [0, n), as integers(0, n)"),
    (r"\+.*t0 = xs\[1\]", "t0 is only a reference offset for float exactness; any sample time works"),
    (r"\+.*csum = np\.concatenate\(\[\[1\.0\]", "only differences of the cumulative sum are used"),
    (r"\+.*np\.errstate\(", "np.errstate only silences floating-point warnings; the values are the same"),
    (r"\+.*keep=(None|\"XXlastXX\"|\"LAST\")", "lookup keeps the last row for any keep other than \"first\""),
    (r"\+.*kinds = np\.where\(is_cpy, cpy\[np\.where\(is_cpy, rec\.row\[nx\], [01]\)\] if len\(cpy\) else "
     r"(\+1|-2|-1), (\+1|-2|-1)\)|\+.*rec\.row\[nx\], 1\)",
     "copy kinds outside copies (and with no copy table) are masked by is_cpy before use"),
    (r"\+.*(l_end|l_start) (> 0|>= 1)\)", "differs only for a launch call at time 0 ns; trace timestamps are "
     "absolute (about 1.8e18 ns), and -1 marks a missing call"),
    (r"\+.*l_start = np\.where\((ok \| found|ok & found), l_start, (\+1|-2)?-?1?\)",
     "l_start outside ok is masked by ok in the returned expression"),
    (r"\+.*s_idx\[np\.clip\(i, 0, None\)\] if len\(s_idx\) else (\+1|-2), -1\)",
     "with no steps, ok is all False, so np.where returns -1 whatever this branch holds"),
    (r"\+.*np\.where\(found \| \(rec\.step >= 0\), pos, -1\)", "pos is already -1 where found is False"),
    (r"\+.*wl\.get\(\"ctx\", (None|1|)\)", "a decode workload always records ctx (analysis/trace/workload.py), so "
     "the default is never used"),
    (r"\+.*kinds = np\.where\(is_cpy, .*, None\)", "copy kinds outside copies are masked by is_cpy before use"),
    (r"\+.*l_end = np\.where\(known, launch_end\[nx\] if len\(launch_end\) else (\+1|-2|-1), (\+1|-2|-1)\)",
     "the launch end of a gap without a next record is masked by known before use"),

    (r"\+.*(bootstrap_ci|ratio_of_means_ci|prediction_ci|explained_gap_range)\(.*(seed=None|, \)\)?)",
     "seed not passed on: the default (0) is the seed summarize is called with, and the percentile bounds "
     "of a median over 10,000 resamples are the same sorted values for any seed"),
]


def equivalent_reason(diff: str) -> str | None:
    plus = " ".join(x for x in diff.split(" || ") if x.startswith("+"))
    for rx, why in EQUIVALENT:
        if re.search(rx, plus):
            return why
    return None


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
                diff = diffs.get(name.rpartition(".")[2], "?")
                survivors.append({"mutant": name, "status": status, "diff": diff,
                                  "equivalent": equivalent_reason(diff)})
        eq = sum(1 for x in survivors if x["equivalent"])
        killed = counts.get("killed", 0) + counts.get("timeout", 0)
        modules[mod] = {"counts": counts, "total": sum(counts.values()), "equivalent": eq,
                        "score_non_equivalent": killed / max(sum(counts.values()) - eq, 1),
                        "survivors": survivors}
    return modules


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mutmut", default="mutmut", help="the mutmut executable (3.x)")
    p.add_argument("--stage", default="/tmp/stepscope-mutation", help="staging folder (rebuilt unless --resume)")
    p.add_argument("--resume", action="store_true", help="keep the staging folder and mutmut's results in it")
    p.add_argument("--only", nargs="*", default=[], help="mutant-name patterns passed to `mutmut run`")
    p.add_argument("--collect-only", action="store_true", help="summarise the staged run again; run nothing")
    p.add_argument("--max-children", type=int, default=2)
    p.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "mutation.json"))
    a = p.parse_args(argv)
    dest = Path(a.stage)
    if not a.resume and not a.collect_only:
        stage(dest)
    r = subprocess.CompletedProcess([], 0) if a.collect_only else \
        subprocess.run([a.mutmut, "run", "--max-children", str(a.max_children), *a.only], cwd=dest)
    modules = collect(dest)
    out = {"tool": subprocess.run([a.mutmut, "--version"], capture_output=True, text=True, cwd=dest).stdout.strip(),
           "command": "PYTHONPATH=$PWD python3 benchmarks/mutation.py --mutmut /tmp/mutvenv/bin/mutmut",
           "mutmut_exit": r.returncode, "modules": modules}
    tot = {k: sum(m["counts"].get(k, 0) for m in modules.values()) for k in ("killed", "timeout", "survived", "no tests")}
    n, eq = sum(m["total"] for m in modules.values()), sum(m["equivalent"] for m in modules.values())
    out["total"] = {**tot, "mutants": n, "equivalent": eq,
                    "score_all": (tot["killed"] + tot["timeout"]) / max(n, 1),
                    "score_non_equivalent": (tot["killed"] + tot["timeout"]) / max(n - eq, 1)}
    Path(a.output).write_text(json.dumps(out, indent=1) + "\n")
    for mod, m in modules.items():
        print(f"{mod:45s} {m['total']:4d} mutants, {m['equivalent']:3d} equivalent, "
              f"{100 * m['score_non_equivalent']:.1f}% of the rest killed  "
              + ", ".join(f"{k} {v}" for k, v in sorted(m["counts"].items())))
    print(f"all: {n} mutants, {eq} equivalent, {100 * out['total']['score_non_equivalent']:.1f}% of the rest killed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
