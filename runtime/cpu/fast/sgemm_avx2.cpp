// The fast SGEMM's AVX2 + FMA tile loop (6 x 16 micro-kernel: 12 ymm accumulators, two B vectors
// and one broadcast A value per k). Compiled with -mavx2 -mfma (flags.cmake); only called after
// the dispatcher saw the CPU support them.
// The per-file flags come from flags.cmake; the target pragma below gives the same result where
// they are missing, so the file builds either way. No standard-library template is used here: an
// instantiation compiled for this instruction set could be picked by the linker for other files.
#if !defined(__AVX2__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define KILN_FAST_POP_TARGET 1
#elif defined(__GNUC__)
#pragma GCC target("avx2,fma")
#endif
#endif
#include <immintrin.h>

#include "runtime/cpu/fast/sgemm_kernels.h"

namespace kiln::cpu::fast::detail {
namespace {

inline int64_t min64(int64_t x, int64_t y) {
  return x < y ? x : y;
}

constexpr int MR = kAvx2Mr, NR = kAvx2Nr;

inline __m256i lane_mask(int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int nn = static_cast<int>(n < 0 ? 0 : (n > 8 ? 8 : n));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(nn), idx);
}

void tile(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
          int64_t m, int64_t n, float alpha, float beta) {
  __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    acc0[i] = _mm256_setzero_ps();
    acc1[i] = _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    // One cache line of B per k step, asked for 16 steps ahead (see sgemm_avx512.cpp).
    _mm_prefetch(reinterpret_cast<const char*>(b + 16 * NR), _MM_HINT_T0);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
    a += MR;
    b += NR;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  const __m256 vb = _mm256_set1_ps(beta);
  const bool full = n == NR;
  const __m256i m0 = lane_mask(n), m1 = lane_mask(n - 8);
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
    __m256 v0 = _mm256_mul_ps(acc0[i], va);
    __m256 v1 = _mm256_mul_ps(acc1[i], va);
    if (full) {
      if (beta != 0.0f) {
        v0 = _mm256_fmadd_ps(_mm256_loadu_ps(ci), vb, v0);
        v1 = _mm256_fmadd_ps(_mm256_loadu_ps(ci + 8), vb, v1);
      }
      _mm256_storeu_ps(ci, v0);
      _mm256_storeu_ps(ci + 8, v1);
    } else {
      if (beta != 0.0f) {
        v0 = _mm256_fmadd_ps(_mm256_maskload_ps(ci, m0), vb, v0);
        v1 = _mm256_fmadd_ps(_mm256_maskload_ps(ci + 8, m1), vb, v1);
      }
      _mm256_maskstore_ps(ci, m0, v0);
      _mm256_maskstore_ps(ci + 8, m1, v1);
    }
  }
}

}  // namespace

void tiles_avx2(const TileJob& job, int64_t t_begin, int64_t t_end) {
  const int64_t n_jr = (job.nc + NR - 1) / NR;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const int64_t ir = t / n_jr, jr = t % n_jr;
    const int64_t m = min64(MR, job.mc - ir * MR);
    const int64_t n = min64(NR, job.nc - jr * NR);
    tile(job.kc, job.pa + ir * MR * job.kc, job.pb + jr * NR * job.kc,
         job.c + ir * MR * job.ldc + jr * NR, job.ldc, m, n, job.alpha, job.beta);
  }
}

}  // namespace kiln::cpu::fast::detail

#if defined(KILN_FAST_POP_TARGET)
#pragma clang attribute pop
#endif
