"""stepscope profiler: the GPU side.

    capture/      CUPTI activity, PM sampling, NVML, the ``Tracer``
    workloads/    decode models and their registry, synthetic and calibration workloads,
                  quantised model building
    experiments/  the measurement protocol, one fresh-process runner, and the A/B, sweep,
                  quant and calibrate experiments

Nothing here imports torch, cupti or pynvml at import time.
"""
from .capture import Tracer
from .errors import CaptureError, WorkloadError

__all__ = ["Tracer", "CaptureError", "WorkloadError"]
