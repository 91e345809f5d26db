"""Modules imported on first use, not when the module that names them is imported: a
report that fits no DRAM traffic (a Kineto trace, one step) never pays for scipy's
imports (about 0.5-1 s on a 2-core machine)."""
from __future__ import annotations

import importlib


class LazyModule:
    """Stands for module ``name``; the first attribute read imports it."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._name), attr)


def lazy_function(module: str, name: str):
    """A function that imports ``module`` on its first call and calls ``module.name``."""
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)
    call.__name__ = name
    return call
