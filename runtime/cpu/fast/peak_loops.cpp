// CPU peak loops (see peak_loops.h).
#include "runtime/cpu/fast/peak_loops.h"

#include <algorithm>
#include <thread>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define KILN_PEAK_X86 1
#endif

namespace kiln::cpu::fast {

namespace {

#ifdef KILN_PEAK_X86
__attribute__((target("avx2,fma"))) double fma_loop_256(int64_t iters, float* sink) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  *sink = out[0];
  return 2.0 * 8 * 12 * static_cast<double>(iters);
}

__attribute__((target("avx512f,fma"))) double fma_loop_512(int64_t iters, float* sink) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  __m512 s = acc[0];  // every chain feeds the result, so none is dead code
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];  // (_mm512_reduce_add_ps trips GCC 12's -Wuninitialized)
  _mm512_storeu_ps(out, s);
  *sink = out[0] + out[15];
  return 2.0 * 16 * 12 * static_cast<double>(iters);
}

__attribute__((target("avx512f,avx512vnni"))) double vnni_loop(int64_t iters, float* sink) {
  __m512i acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i x = _mm512_set1_epi32(0x01020304), y = _mm512_set1_epi32(0x05060708);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], x, y);
  __m512i s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_epi32(s, acc[i]);
  int32_t out[16];
  _mm512_storeu_si512(out, s);
  *sink = static_cast<float>(out[0] + out[15]);
  return 2.0 * 64 * 12 * static_cast<double>(iters);
}
#endif

// 8 independent chains of scalar multiply-adds.
double fma_loop_scalar(int64_t iters, float* sink) {
  float acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = static_cast<float>(i) * 1e-3f;
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 8; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
  float s = 0;
  for (float a : acc) s += a;
  *sink = s;
  return 2.0 * 8 * static_cast<double>(iters);
}

}  // namespace

bool peak_loop_supported(PeakLoop loop) {
  switch (loop) {
    case PeakLoop::kScalarFma:
      return true;
#ifdef KILN_PEAK_X86
    case PeakLoop::kAvx2Fma:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case PeakLoop::kAvx512Fma:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    case PeakLoop::kAvx512Vnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
#else
    default:
      return false;
#endif
  }
  return false;
}

double run_peak_loop(PeakLoop loop, int64_t iters, float* sink) {
  switch (loop) {
#ifdef KILN_PEAK_X86
    case PeakLoop::kAvx2Fma:
      return fma_loop_256(iters, sink);
    case PeakLoop::kAvx512Fma:
      return fma_loop_512(iters, sink);
    case PeakLoop::kAvx512Vnni:
      return vnni_loop(iters, sink);
#endif
    default:
      return fma_loop_scalar(iters, sink);
  }
}

double peak_gops(PeakLoop loop, int threads, int64_t iters, int reps,
                 const std::function<double()>& now) {
  if (!peak_loop_supported(loop) || threads < 1) return 0;
  double best = 0;
  for (int rep = 0; rep < reps; ++rep) {
    std::vector<std::thread> ts;
    std::vector<float> sink(static_cast<size_t>(threads) * 16);
    std::vector<double> ops(static_cast<size_t>(threads));
    const double t0 = now();
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        ops[static_cast<size_t>(t)] =
            run_peak_loop(loop, iters, &sink[static_cast<size_t>(t) * 16]);
      });
    for (auto& t : ts) t.join();
    const double s = now() - t0;
    double total = 0;
    for (double o : ops) total += o;
    if (s > 0) best = std::max(best, total / s * 1e-9);
  }
  return best;
}

}  // namespace kiln::cpu::fast
