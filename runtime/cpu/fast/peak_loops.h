// Register-only loops that measure a CPU's arithmetic peak: FMA (scalar, AVX2, AVX-512) and
// AVX512-VNNI (vpdpbusd), 12 independent accumulator chains so latency never limits. Used by the
// roofline peaks (runtime/profile.cpp) and the CPU GEMM benchmarks (bench/cpu_*gemm_bench.cpp).
#pragma once

#include <cstdint>
#include <functional>

namespace kiln::cpu::fast {

enum class PeakLoop { kScalarFma, kAvx2Fma, kAvx512Fma, kAvx512Vnni };

// Whether this CPU (and build) can run the loop.
bool peak_loop_supported(PeakLoop loop);

// Operations done (2 per multiply-add) by `iters` iterations of the loop on this thread; the
// result goes to *sink so that no chain is dead code. The loop must be supported.
double run_peak_loop(PeakLoop loop, int64_t iters, float* sink);

// G(FL)OP/s of `threads` copies of the loop running at once, best of `reps`, timed by `now`
// (seconds on any clock); 0 when the loop is not supported.
double peak_gops(PeakLoop loop, int threads, int64_t iters, int reps,
                 const std::function<double()>& now);

}  // namespace kiln::cpu::fast
