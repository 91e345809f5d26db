"""The GPU table (``gpus.json``, each figure with its source) and the spec of one GPU that
``predict`` uses: datasheet figures, plus what `stepscope calibrate` measured where it ran."""
from __future__ import annotations

import json
import re
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("gpus.json")

#: Figures every entry carries, as {"value": ..., "source": ...}.
FIGURES = ("peak_bytes_per_s", "memory_type", "l2_bytes", "sms", "boost_clock_mhz", "base_clock_mhz",
           "bf16_dense_flops_per_s")
#: Figures only a calibrated GPU carries (under "measured"), as {"value", "lo", "hi", "source", "files"}.
MEASURED = ("achievable_bytes_per_s", "graph_node_ns")


def load_table(path: str | Path | None = None) -> list[dict]:
    """Every entry of a GPU table (``gpus.json`` by default), checked: each figure a
    number (or, for memory_type, a string) with a non-empty source."""
    path = Path(path) if path else TABLE_PATH
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        raise ValueError(f"{path} is not a readable JSON GPU table.") from None
    entries = doc.get("gpus") if isinstance(doc, dict) and "gpus" in doc else [doc]
    for e in entries:
        check_entry(e, path)
    return entries


def check_entry(e: dict, path) -> None:
    name = e.get("name") if isinstance(e, dict) else None
    if not isinstance(name, str) or not name:
        raise ValueError(f"{path}: a GPU entry has no name.")
    for f in FIGURES:
        fig = e.get(f)
        if not isinstance(fig, dict) or not str(fig.get("source", "")).strip():
            raise ValueError(f"{path}: {name} has no {f} with a source.")
        v = fig.get("value")
        ok = isinstance(v, str) if f == "memory_type" else isinstance(v, (int, float)) and v > 0
        if not ok:
            raise ValueError(f"{path}: {name}'s {f} is not a positive number.")
    for f, fig in (e.get("measured") or {}).items():
        if f not in MEASURED or not isinstance(fig, dict) or not str(fig.get("source", "")).strip():
            raise ValueError(f"{path}: {name}'s measured {f} is unknown or has no source.")
        if not all(isinstance(fig.get(k), (int, float)) and fig[k] > 0 for k in ("value", "lo", "hi")) \
                or not fig["lo"] <= fig["value"] <= fig["hi"]:
            raise ValueError(f"{path}: {name}'s measured {f} needs value, lo and hi with lo <= value <= hi.")


def contains_name(text: str, name: str) -> bool:
    """``name`` inside ``text`` as whole words: not "L4" inside "L40", nor "H200" inside
    "GH200" (a GPU the table lacks is refused, not read as another)."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text) is not None


def find(entries: list[dict], name: str) -> dict:
    """The entry named ``name`` (its name or an alias, case-insensitive), else the entry
    whose name or alias is the longest contained in ``name`` (an NVML name) as whole words."""
    key = name.strip().lower()
    for e in entries:
        if key in [n.lower() for n in [e["name"], *e.get("aliases", [])]]:
            return e
    best = max(((len(n), e) for e in entries for n in [e["name"], *e.get("aliases", [])]
                if contains_name(key, n.lower())), key=lambda x: x[0], default=None)
    if best is None:
        raise ValueError(f"no GPU called {name!r} in the table (known: {', '.join(e['name'] for e in entries)}); "
                         "pass --gpu-spec FILE for another GPU.")
    return best[1]


def spec(entry: dict, fraction_if_unmeasured: tuple[float, float, float]) -> dict:
    """The numbers the model uses. Achievable bandwidth: measured (median, lo, hi) when the
    GPU was calibrated, else peak x the calibrated GPUs' achievable fraction (median, lo,
    hi over them), flagged as assumed. Node cost: measured, else None."""
    val = {f: entry[f]["value"] for f in FIGURES}
    m = entry.get("measured") or {}
    peak = float(val["peak_bytes_per_s"])
    if "achievable_bytes_per_s" in m:
        a = m["achievable_bytes_per_s"]
        ach, ach_src = (a["value"], a["lo"], a["hi"]), "measured: " + a["source"]
    else:
        ach = tuple(peak * f for f in fraction_if_unmeasured)
        ach_src = (f"assumed: peak x {fraction_if_unmeasured[0]:.3f} ({fraction_if_unmeasured[1]:.3f}-"
                   f"{fraction_if_unmeasured[2]:.3f}), the calibrated GPUs' achievable fraction")
    node = m.get("graph_node_ns")
    return {"name": entry["name"], **val, "peak_bytes_per_s": peak,
            "achievable_bytes_per_s": float(ach[0]), "achievable_lo_bytes_per_s": float(ach[1]),
            "achievable_hi_bytes_per_s": float(ach[2]), "achievable_source": ach_src,
            "graph_node_ns": (node["value"], node["lo"], node["hi"]) if node else None,
            "measured": sorted(m), "sources": {f: entry[f]["source"] for f in FIGURES}}


def achievable_fraction(entries: list[dict]) -> tuple[float, float, float]:
    """Median, min and max over the calibrated entries of achievable / peak bandwidth."""
    import numpy as np
    fr = [e["measured"]["achievable_bytes_per_s"][k] / e["peak_bytes_per_s"]["value"]
          for e in entries if "achievable_bytes_per_s" in (e.get("measured") or {}) for k in ("value",)]
    lo = [e["measured"]["achievable_bytes_per_s"]["lo"] / e["peak_bytes_per_s"]["value"]
          for e in entries if "achievable_bytes_per_s" in (e.get("measured") or {})]
    hi = [e["measured"]["achievable_bytes_per_s"]["hi"] / e["peak_bytes_per_s"]["value"]
          for e in entries if "achievable_bytes_per_s" in (e.get("measured") or {})]
    if not fr:
        return 1.0, 1.0, 1.0
    return float(np.median(fr)), float(min(lo)), float(max(hi))
