"""The pipeline's import direction (docs/architecture.md): workloads -> capture -> trace
file -> analysis -> renderers, experiments on top. Imports only point down it."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

HOMES = {"analysis": "stepscope.analysis", "profiler": "stepscope.profiler",
         "kernels": "stepscope.kernels", "stepscope": "stepscope"}
GPU_LIBS = ("torch", "cupti", "pynvml", "transformers", "cuda")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    parts[0] = HOMES[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved)."""
    mod = module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            out.add(name)
            out |= {f"{name}.{a.name}" for a in node.names}
    return out


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def offending(folder: str, forbidden) -> list[str]:
    return [f"{p.relative_to(ROOT)} imports {name}" for p in sources(folder)
            for name in imports_of(p) if forbidden(name)]


def under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_analysis_never_imports_the_gpu_side():
    assert offending("analysis", lambda n: under(n, "stepscope.profiler", "stepscope.kernels", "stepscope.cli",
                                                 *GPU_LIBS)) == []


def test_the_trace_model_is_the_bottom_floor():
    assert offending("analysis/trace", lambda n: under(n, "stepscope") and not
                     under(n, "stepscope.analysis.trace")) == []


def test_analyses_never_import_renderers():
    for folder in ("analysis/trace", "analysis/results"):
        assert offending(folder, lambda n: under(n, "stepscope.analysis.render")) == []
    plain = [p for p in (ROOT / "analysis").glob("*.py")]
    assert [f"{p.name} imports {n}" for p in plain for n in imports_of(p)
            if under(n, "stepscope.analysis.render")] == []


def test_capture_and_workloads_sit_below_experiments():
    assert offending("profiler/capture", lambda n: under(n, "stepscope.profiler.workloads",
                                                         "stepscope.profiler.experiments") or
                     (under(n, "stepscope.analysis") and not under(n, "stepscope.analysis.trace"))) == []
    assert offending("profiler/workloads", lambda n: under(n, "stepscope.profiler.experiments") or
                     (under(n, "stepscope.analysis") and not under(n, "stepscope.analysis.trace",
                                                                   "stepscope.analysis.floor"))) == []
    assert offending("kernels", lambda n: under(n, "stepscope.analysis", "stepscope.profiler")) == []


def test_everything_imports_through_the_stepscope_namespace():
    r = subprocess.run(["git", "grep", "-nE", r"^(from|import) (profiler|analysis|kernels)\b"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.stdout == ""


@pytest.mark.parametrize("modules", [
    "stepscope.analysis, stepscope.analysis.facade, stepscope.analysis.render.console, "
    "stepscope.analysis.render.json_report, stepscope.analysis.render.perfetto, stepscope.analysis.results.ab, "
    "stepscope.profiler, stepscope.profiler.experiments.runner"])
def test_imports_without_gpu_libraries(modules):
    """The CPU side imports on a machine without torch, cupti or pynvml (they are blocked)."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {GPU_LIBS!r}:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"import {modules}\n"
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
