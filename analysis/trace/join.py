"""Joins on ids (correlation ids, step indices), vectorised: the one lookup every stage
uses to find a record's partner."""
from __future__ import annotations

import numpy as np


def lookup(keys: np.ndarray, values: np.ndarray, queries: np.ndarray, keep: str = "first",
           order_by: np.ndarray | None = None, missing: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the value of the row whose key equals it: (found mask, values).

    Where several rows share a key, ``keep`` picks the first or last of them, in the
    order of ``order_by`` (default: row order). Queries without a match get ``missing``.
    """
    keys, values, queries = np.asarray(keys), np.asarray(values), np.asarray(queries)
    if not len(keys) or not len(queries):
        return np.zeros(len(queries), bool), np.full(len(queries), missing, values.dtype if len(values) else np.int64)
    order = np.lexsort((order_by if order_by is not None else np.arange(len(keys)), keys))
    k, v = keys[order], values[order]
    edge = np.r_[True, k[1:] != k[:-1]] if keep == "first" else np.r_[k[1:] != k[:-1], True]
    k, v = k[edge], v[edge]
    j = np.clip(np.searchsorted(k, queries), 0, len(k) - 1)
    found = k[j] == queries
    return found, np.where(found, v[j], missing)
