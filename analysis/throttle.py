"""NVML clock-event (throttle) reason bits, readable without pynvml."""

THROTTLE_BITS = {
    0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap",
    0x8: "hw_slowdown", 0x10: "sync_boost", 0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown", 0x100: "display_clock_setting",
}


def throttle_names(mask: int, ignore_idle: bool = True) -> list[str]:
    """Names of the set bits; ``gpu_idle`` is dropped by default (it is not throttling)."""
    if mask is None or mask < 0:
        return ["unknown"]
    return [n for b, n in THROTTLE_BITS.items() if mask & b and not (ignore_idle and b == 0x1)]
