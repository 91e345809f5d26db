"""stepscope capture: trace CUDA work step by step (CUPTI activity, PM-sampled DRAM, NVML)."""
from analysis.steps import assign_steps

from .tracer import CaptureError, Tracer

__all__ = ["Tracer", "CaptureError", "assign_steps"]
