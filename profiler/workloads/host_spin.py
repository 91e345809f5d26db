"""A host workload with known busy-waits in known modules: each ``Spin`` module spins the
CPU for a fixed time, then launches one tiny kernel. The GPU is idle during every spin,
so the launch-bound idle of a step is known by construction, module by module: the
host-attribution check (issue #14) recovers each module's spin time from a trace."""
from __future__ import annotations

import time
from collections import OrderedDict

#: Module path -> spin per call (us). Paths as ``named_modules`` gives them.
SPINS_US = OrderedDict([("a", 2000), ("b", 5000), ("c.d", 1000), ("c.e", 3000)])


def spin_ns(ns: int) -> int:
    """Busy-wait ``ns`` on the host; returns the ns really spent (the one host spin of the
    workloads and the protocol)."""
    t0 = time.perf_counter_ns()
    while time.perf_counter_ns() - t0 < ns:
        pass
    return time.perf_counter_ns() - t0


def build(device: str = "cuda"):
    """The module tree of ``SPINS_US`` and its input."""
    import torch

    class Spin(torch.nn.Module):
        def __init__(self, us: int):
            super().__init__()
            self.ns = us * 1000

        def forward(self, x):
            spin_ns(self.ns)
            return x.add_(1)

    model = torch.nn.Sequential(OrderedDict([
        ("a", Spin(SPINS_US["a"])), ("b", Spin(SPINS_US["b"])),
        ("c", torch.nn.Sequential(OrderedDict([("d", Spin(SPINS_US["c.d"])), ("e", Spin(SPINS_US["c.e"]))])))]))
    return model, torch.zeros(16, device=device)
