"""The checkout's top-level folders (analysis/, profiler/, kernels/) never hide a package of
the same name that a dependency imports.

``python -m pytest`` and ``python -m stepscope`` put the checkout root first on sys.path;
transformers >= 5.25 imports Hugging Face's ``kernels`` package, and a regular package
``kernels/`` in the root was found first (issue 26). The folders are namespace portions
(no ``__init__.py``), which the import system takes only when no regular package of that
name exists anywhere on sys.path.
"""
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

NAMES = ("kernels", "profiler", "analysis")


def test_no_top_level_folder_is_a_regular_package():
    regular = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "stepscope")
    assert regular == [], f"top-level regular packages that can shadow a dependency: {regular}"


@pytest.mark.parametrize("name", NAMES)
def test_an_installed_package_of_the_same_name_wins(tmp_path, name):
    """The root first on sys.path (as `python -m` puts it), a regular package ``name``
    right after it (as site-packages is, later): ``import name`` is that package."""
    site = tmp_path / "site"
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text("WHO = 'installed'\n")
    code = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(ROOT)!r}, {str(site)!r}]
        import {name}
        print(getattr({name}, 'WHO', 'checkout'))
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "installed"


def test_the_namespace_still_resolves_from_the_checkout():
    """With the folders namespace portions, ``stepscope.*`` still finds them from a checkout
    on sys.path, and the public names stay importable."""
    code = ("import stepscope.analysis.trace, stepscope.kernels.nvrtc, stepscope.profiler.capture;"
            "from stepscope import Tracer, load, Trace, TraceFileError;"
            "print(stepscope.analysis.trace.__file__)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "analysis" in r.stdout
