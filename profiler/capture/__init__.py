"""Capture: CUPTI activity (kernels, copies, sets, API calls), PM-sampled DRAM counters,
NVML, host metadata, all on CUPTI's clock, written through ``stepscope.analysis.trace``."""
from .tracer import Tracer, cupti_holder

__all__ = ["Tracer", "cupti_holder"]
