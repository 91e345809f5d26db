// Calibration kernels for stepscope. Compiled at run time by NVRTC (kernels/__init__.py).
// All entry points are extern "C" so their names are not mangled.

// Does nothing: launch cost, launch-to-launch gap, graph per-node cost.
extern "C" __global__ void null_kernel() {}

// Streams `n16` 16-byte vectors from `src` once, four independent loads in flight per
// thread per iteration, and folds them into one word. `sink` is written only when the
// fold equals `never` (the caller passes a value the fold cannot reach in practice),
// which keeps the loads alive without a store per thread.
extern "C" __global__ void read_reduce(const uint4* __restrict__ src, unsigned long long n16,
                                       unsigned int* __restrict__ sink, unsigned int never) {
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    unsigned int acc = 0;
    for (; i + 3 * stride < n16; i += 4 * stride) {
        const uint4 a = __ldcs(src + i);
        const uint4 b = __ldcs(src + i + stride);
        const uint4 c = __ldcs(src + i + 2 * stride);
        const uint4 d = __ldcs(src + i + 3 * stride);
        acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w;
        acc ^= c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
    }
    for (; i < n16; i += stride) {
        const uint4 a = __ldcs(src + i);
        acc ^= a.x ^ a.y ^ a.z ^ a.w;
    }
    if (acc == never) {
        sink[0] = acc;
    }
}

// Copies `n16` 16-byte vectors, four in flight per thread per iteration.
extern "C" __global__ void copy16(const uint4* __restrict__ src, uint4* __restrict__ dst,
                                  unsigned long long n16) {
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    for (; i + 3 * stride < n16; i += 4 * stride) {
        const uint4 a = __ldcs(src + i);
        const uint4 b = __ldcs(src + i + stride);
        const uint4 c = __ldcs(src + i + 2 * stride);
        const uint4 d = __ldcs(src + i + 3 * stride);
        __stcs(dst + i, a);
        __stcs(dst + i + stride, b);
        __stcs(dst + i + 2 * stride, c);
        __stcs(dst + i + 3 * stride, d);
    }
    for (; i < n16; i += stride) {
        __stcs(dst + i, __ldcs(src + i));
    }
}
