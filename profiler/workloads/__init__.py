"""Workloads: what runs under the tracer. ``decode`` (HF transformers models at batch 1,
eager, static-cache eager or CUDA-graph replay; the model registry in ``models/``),
``synthetic`` (a step with known buffers), ``calibration`` (null kernels, streaming reads
and the ground-truth chain) and ``quantize`` (low-bit weight paths)."""
