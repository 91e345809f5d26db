"""stepscope capture: trace CUDA work step by step (CUPTI activity, PM-sampled DRAM, NVML)."""
from .tracer import CaptureError, Tracer, assign_steps

__all__ = ["Tracer", "CaptureError", "assign_steps"]
