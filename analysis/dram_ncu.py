"""Nsight Compute per-kernel DRAM bytes, and their comparison with the estimate of a trace.

``parse_csv`` reads ``ncu --csv --print-units base --metrics dram__bytes_read.sum,
dram__bytes_write.sum,gpu__time_duration.sum`` output (one row per kernel and metric)
into per-kernel arrays in launch order. ``compare`` lines one profiled step up with the
kernel identities of a trace's mode (``dram_kernels.identities``: step order), position
by position, and sums ncu's bytes over each estimated group and each class, so the two
are compared on what the estimate claims to resolve.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from .dram_checks import class_name
from .dram_kernels import MIXED
from .kernel_classes import classify_name

METRICS = {"dram__bytes_read.sum": "read_bytes", "dram__bytes_write.sum": "write_bytes",
           "gpu__time_duration.sum": "duration_ns"}


#: The units of ``--print-units base`` ("ns" in the committed exports, "nsecond" in older
#: ncu releases); a scaled unit such as "Mbyte" or "usecond" is refused, not guessed.
BASE_UNITS = {"read_bytes": ("byte",), "write_bytes": ("byte",), "duration_ns": ("ns", "nsecond")}
COLUMNS = ("ID", "Kernel Name", "Metric Name", "Metric Value")


def parse_csv(text: str) -> dict:
    """Per kernel (launch order): name, read_bytes, write_bytes, duration_ns. Text that is
    not that export (no header, a column missing, a value that is not a number, a unit
    other than the base one) raises ValueError, one sentence."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith('"ID"')), None)
    if start is None:
        raise ValueError("no ncu CSV header (a line starting with \"ID\") in the text")
    reader = csv.DictReader(io.StringIO("\n".join(lines[start:])))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"the ncu CSV has no {', '.join(repr(c) for c in missing)} column (one row per kernel "
                         "and metric is read: ncu --csv --print-units base, not --page raw)")
    rows: dict[int, dict] = {}
    for r in reader:
        key = METRICS.get(r["Metric Name"])
        if key is None:
            continue
        unit = r.get("Metric Unit")
        if unit is not None and unit not in BASE_UNITS[key]:
            raise ValueError(f"{r['Metric Name']} is in {unit!r}, not {BASE_UNITS[key][0]!r} (export with "
                             "--print-units base)")
        try:
            k = int(r["ID"])
        except (TypeError, ValueError):
            raise ValueError(f"a kernel ID is {r['ID']!r}, not a whole number") from None
        try:
            value = float(r["Metric Value"].replace(",", ""))
        except (AttributeError, ValueError):
            raise ValueError(f"kernel ID {k}: {r['Metric Name']} is {r['Metric Value']!r}, not a number") from None
        d = rows.setdefault(k, {"name": r["Kernel Name"]})
        d[key] = value
    ids = sorted(rows)
    return {"name": [rows[i]["name"] for i in ids],
            **{v: np.array([rows[i].get(v, np.nan) for i in ids]) for v in METRICS.values()}}


def compare(est: dict, mode_id: int, ncu: dict, top: int = 20) -> dict:
    """``est``: ``dram_fit.estimate`` of a trace; ``mode_id``: the string index of the
    profiled mode. The k-th kernel ncu profiled is the k-th kernel identity (copies and sets
    left out) of that mode; the comparison is refused (``matched: False``) when the counts
    differ."""
    # ncu profiles kernels only: the step's copies and sets (tables 1, 2) have no row there.
    sel = np.nonzero((est["identity_mode"] == mode_id) & (est["identity_table"] == 0))[0]
    n = len(ncu["name"])
    if len(sel) != n:
        return {"matched": False, "reason": f"ncu profiled {n} kernels, the trace's step has {len(sel)}"}
    g = est["group_of_identity"][sel]
    ng = len(est["read_bytes"])
    out = {"matched": True}
    for col in ("read", "write"):
        out[f"ncu_{col}_bytes"] = np.bincount(g, weights=np.nan_to_num(ncu[f"{col}_bytes"]), minlength=ng)
    groups = np.unique(g)
    order = groups[np.argsort(-out["ncu_read_bytes"][groups], kind="stable")][:top]
    out["top"] = {"name": [est["name"][i] for i in order], "class": [class_name(est["klass"][i]) for i in order],
                  "estimate_read_bytes": est["read_bytes"][order], "ncu_read_bytes": out["ncu_read_bytes"][order],
                  "estimate_write_bytes": est["write_bytes"][order], "ncu_write_bytes": out["ncu_write_bytes"][order]}
    kl = np.asarray(est["klass"])[groups]
    cls = {"class": [], "estimate_read_bytes": [], "ncu_read_bytes": [], "estimate_write_bytes": [],
           "ncu_write_bytes": []}
    for c in sorted(set(kl)):
        m = groups[kl == c]
        cls["class"].append(class_name(c))
        for col in ("read", "write"):
            cls[f"estimate_{col}_bytes"].append(float(np.nansum(est[f"{col}_bytes"][m])))
            cls[f"ncu_{col}_bytes"].append(float(out[f"ncu_{col}_bytes"][m].sum()))
    out["classes"] = cls
    # ncu's own classes by kernel name (no grouping), for the reader.
    names = [classify_name(x) for x in ncu["name"]]
    out["ncu_by_name_class"] = {class_name(c): float(np.nansum(ncu["read_bytes"][[k == c for k in names]]))
                                for c in sorted(set(names))}
    del out["ncu_read_bytes"], out["ncu_write_bytes"]
    out["mixed_label"] = class_name(MIXED)
    return out
