"""Metadata recorded once per trace: host, library versions, command line, date."""
from __future__ import annotations

import datetime
import platform
import sys
from importlib import metadata


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_host() -> dict:
    out = {
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command_line": sys.argv,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": {d: _version(d) for d in ("stepscope", "torch", "transformers", "numpy",
                                              "cupti-python", "nvidia-ml-py",
                                              "nvidia-cuda-cupti")},
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        out["versions"]["torch_cuda_runtime"] = torch.version.cuda
    return out


def loaded_libraries(*stems: str) -> dict[str, str]:
    """Paths of the shared libraries this process has mapped, by stem (e.g. libcupti)."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rsplit(" ", 1)[-1].strip()
                for stem in stems:
                    if f"/{stem}.so" in path:
                        out.setdefault(stem, path)
    except OSError:
        pass
    return out
