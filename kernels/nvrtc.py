"""Calibration kernels: CUDA C sources in this folder, compiled at run time with NVRTC
(cuda-bindings) and launched through the driver API on torch's current stream.

Compiling needs no GPU (CI compiles every source for sm_90); loading and launching do.
"""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SOURCES = {p.stem: p for p in sorted(HERE.glob("*.cu"))}
OPTIONS = ("--std=c++17", "-default-device", "--use_fast_math")


class KernelBuildError(RuntimeError):
    """A kernel failed to compile, load or launch; the message carries the NVRTC log."""


def _check(result, what: str):
    err = result[0]
    if int(err) != 0:
        raise KernelBuildError(f"{what} failed: {err!r}")
    return result[1:] if len(result) > 2 else (result[1] if len(result) == 2 else None)


def compile_source(name: str, arch: str = "sm_90", source: str | None = None) -> tuple[bytes, str]:
    """Compile ``kernels/<name>.cu`` (or ``source``) to a CUBIN; return (cubin, log).

    Raises KernelBuildError with the NVRTC log on a compile error.
    """
    from cuda.bindings import nvrtc
    src = source if source is not None else SOURCES[name].read_text()
    prog = _check(nvrtc.nvrtcCreateProgram(src.encode(), f"{name}.cu".encode(), 0, [], []),
                  "nvrtcCreateProgram")
    try:
        opts = [f"--gpu-architecture={arch}".encode(), *(o.encode() for o in OPTIONS)]
        res, = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        # Output buffers must be fresh, mutable memory: ``b" " * n`` can return CPython's
        # shared one-byte object, and NVRTC writing into it corrupts every later b" ".
        size = _check(nvrtc.nvrtcGetProgramLogSize(prog), "nvrtcGetProgramLogSize")
        buf = bytearray(size)
        _check(nvrtc.nvrtcGetProgramLog(prog, buf), "nvrtcGetProgramLog")
        log = bytes(buf).decode(errors="replace").rstrip("\x00").strip()
        if int(res) != 0:
            raise KernelBuildError(f"NVRTC could not compile {name}.cu for {arch}:\n{log}")
        size = _check(nvrtc.nvrtcGetCUBINSize(prog), "nvrtcGetCUBINSize")
        cubin = bytearray(size)
        _check(nvrtc.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN")
        return bytes(cubin), log
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def device_arch(device: int = 0) -> str:
    import torch
    major, minor = torch.cuda.get_device_capability(device)
    return f"sm_{major}{minor}"


class Module:
    """A compiled source loaded into torch's CUDA context."""

    def __init__(self, name: str = "calibration", device: int = 0):
        import torch
        from cuda.bindings import driver
        torch.cuda.init()
        torch.zeros(1, device=f"cuda:{device}")  # make torch's primary context current
        self.driver = driver
        cubin, self.log = compile_source(name, device_arch(device))
        self._cubin = np.frombuffer(cubin, np.uint8).copy()
        self.module = _check(driver.cuModuleLoadData(self._cubin.ctypes.data), "cuModuleLoadData")
        self._funcs = {}

    def function(self, name: str):
        if name not in self._funcs:
            self._funcs[name] = _check(self.driver.cuModuleGetFunction(self.module, name.encode()),
                                       f"cuModuleGetFunction({name})")
        return self._funcs[name]

    def launch(self, name: str, grid: int, block: int, *args, stream=None) -> None:
        """args: ctypes values (ctypes.c_void_p(ptr), ctypes.c_uint64(n), ...)."""
        import torch
        s = stream if stream is not None else torch.cuda.current_stream().cuda_stream
        holders = [a if isinstance(a, ctypes._SimpleCData) else ctypes.c_void_p(a) for a in args]
        ptrs = (ctypes.c_void_p * max(len(holders), 1))(*[ctypes.addressof(h) for h in holders])
        err, = self.driver.cuLaunchKernel(self.function(name), grid, 1, 1, block, 1, 1, 0,
                                          self.driver.CUstream(s),
                                          ctypes.addressof(ptrs), 0)
        if int(err) != 0:
            raise KernelBuildError(f"launching {name} failed: {err!r}")
