"""NVML: the GPU's identity and peak bandwidth once, clocks/power/throttling per step."""
from __future__ import annotations


class Nvml:
    def __init__(self, device: int = 0):
        import pynvml
        self.nv = pynvml
        pynvml.nvmlInit()
        self.h = pynvml.nvmlDeviceGetHandleByIndex(device)

    def _get(self, fn, *args, default=-1):
        try:
            return fn(self.h, *args)
        except self.nv.NVMLError:
            return default

    def describe(self) -> dict:
        nv = self.nv
        bus_bits = self._get(nv.nvmlDeviceGetMemoryBusWidth)
        max_mem_mhz = self._get(nv.nvmlDeviceGetMaxClockInfo, nv.NVML_CLOCK_MEM)
        peak = None
        if bus_bits > 0 and max_mem_mhz > 0:
            # Double data rate: two transfers per memory clock.
            peak = bus_bits // 8 * max_mem_mhz * 1_000_000 * 2
        name = self._get(nv.nvmlDeviceGetName, default="unknown")
        mem = self._get(nv.nvmlDeviceGetMemoryInfo, default=None)
        return {
            "name": name.decode() if isinstance(name, bytes) else name,
            "uuid": _s(self._get(nv.nvmlDeviceGetUUID, default="unknown")),
            "driver": _s(_try(nv.nvmlSystemGetDriverVersion, "unknown")),
            "cuda_driver_version": _try(nv.nvmlSystemGetCudaDriverVersion_v2, -1),
            "memory_bus_width_bits": bus_bits,
            "max_memory_clock_mhz": max_mem_mhz,
            "max_sm_clock_mhz": self._get(nv.nvmlDeviceGetMaxClockInfo, nv.NVML_CLOCK_SM),
            "peak_bytes_per_s": peak,
            "peak_source": "nvml" if peak else None,
            "memory_total_bytes": getattr(mem, "total", -1),
            "power_limit_mw": self._get(nv.nvmlDeviceGetEnforcedPowerLimit),
            "persistence_mode": self._get(nv.nvmlDeviceGetPersistenceMode),
        }

    def sample(self) -> dict:
        """Clocks, power, energy counter, throttle reasons, temperature: now."""
        nv = self.nv
        reasons = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            nv.nvmlDeviceGetCurrentClocksThrottleReasons
        return {
            "sm_clock_mhz": self._get(nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_SM),
            "mem_clock_mhz": self._get(nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_MEM),
            "power_mw": self._get(nv.nvmlDeviceGetPowerUsage),
            "energy_mj": self._get(nv.nvmlDeviceGetTotalEnergyConsumption),
            "throttle_reasons": self._get(reasons),
            "temperature_c": self._get(nv.nvmlDeviceGetTemperature, nv.NVML_TEMPERATURE_GPU),
        }

    def close(self) -> None:
        try:
            self.nv.nvmlShutdown()
        except self.nv.NVMLError:
            pass


def _try(fn, default):
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return default


def _s(v):
    return v.decode() if isinstance(v, bytes) else v
