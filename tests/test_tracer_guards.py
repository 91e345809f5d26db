"""The tracer's refusals, checked before CUPTI is touched (no GPU needed)."""
import pytest

from stepscope.profiler.capture.tracer import Tracer, cupti_holder
from stepscope.profiler.errors import CaptureError


def test_another_tracer_is_named(monkeypatch):
    monkeypatch.setattr(Tracer, "_active", object())
    with pytest.raises(CaptureError, match="another stepscope Tracer is running"):
        Tracer().start()


def test_torch_profiler_is_named():
    torch = pytest.importorskip("torch")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]):
        assert "torch.profiler" in cupti_holder()
        with pytest.raises(CaptureError, match="torch.profiler \\(Kineto\\) is profiling"):
            Tracer().start()
    assert cupti_holder() is None


def test_nsight_injection_is_named(monkeypatch):
    monkeypatch.setenv("CUDA_INJECTION64_PATH", "/opt/nvidia/nsight-systems/lib/libToolsInjection64.so")
    with pytest.raises(CaptureError, match="Nsight Systems is attached"):
        Tracer().start()


def test_step_outside_a_started_tracer():
    with pytest.raises(CaptureError, match="outside a started Tracer"):
        with Tracer().step(0):
            pass
