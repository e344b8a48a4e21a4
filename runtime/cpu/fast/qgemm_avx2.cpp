// The fast int8 GEMM's AVX2 tile loop (4 x 16 micro-kernel: 8 ymm int32 accumulators; 6 rows
// made GCC spill the accumulators and ran at 110 instead of 183 GOP/s on BERT shapes). The
// operands are packed widened to int16 in pairs of k (a' in [0, 255], b' in [-128, 127]) and
// multiplied with vpmaddwd, whose pair sums (at most 2 * 255 * 128 in magnitude) always fit in
// int32: exact for every input, where vpmaddubsw's int16 pair sums would saturate (255 * -128 * 2
// < -32768). Compiled with -mavx2 (flags.cmake); only called after the dispatcher saw the CPU
// support it. No standard-library template is used here (see qgemm_avx512.cpp).
#if !defined(__AVX2__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#define KILN_FAST_POP_TARGET 1
#elif defined(__GNUC__)
#pragma GCC target("avx2")
#endif
#endif
#include <immintrin.h>

#include "runtime/cpu/fast/qgemm_kernels.h"

namespace kiln::cpu::fast::qdetail {
namespace {

constexpr int MR = kAvx2Mr, NR = kAvx2Nr, KU = kAvx2Ku;
constexpr int NV = NR / 8;

inline int64_t min64(int64_t x, int64_t y) {
  return x < y ? x : y;
}

inline int32_t load_word(const int16_t* p) {
  int32_t w;
  __builtin_memcpy(&w, p, 4);
  return w;
}

void tile(const TileJob& job, const int16_t* __restrict a, const int16_t* __restrict b, int64_t i0,
          int64_t j0, int64_t m, int64_t n) {
  __m256i acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_si256();
  const int64_t kq = job.kp / KU;
  for (int64_t q = 0; q < kq; ++q) {
    __m256i bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      bv[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16 * v));
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR * KU), _MM_HINT_T0);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m256i ai = _mm256_set1_epi32(load_word(a + KU * i));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        acc[i][v] = _mm256_add_epi32(acc[i][v], _mm256_madd_epi16(ai, bv[v]));
    }
    a += MR * KU;
    b += NR * KU;
  }
  // c is null when the float output stage needs no partial sums (one K slice).
  int32_t* c = job.c ? job.c + i0 * job.ldc + j0 : nullptr;
  const bool to_float = job.y && job.finish;
  if (m == MR && n == NR) {
    __m256i cb[NV], bz[NV];
    __m256 sc[NV], bi[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      cb[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(job.cb + j0 + 8 * v));
      bz[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(job.bz + j0 + 8 * v));
      sc[v] = to_float ? _mm256_loadu_ps(job.scale + j0 + 8 * v) : _mm256_setzero_ps();
      bi[v] = to_float && job.bias ? _mm256_loadu_ps(job.bias + j0 + 8 * v) : _mm256_setzero_ps();
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      int32_t* ci = c ? c + i * job.ldc : nullptr;
      __m256i az = _mm256_setzero_si256(), rs = _mm256_setzero_si256();
      if (job.finish) {
        az = _mm256_set1_epi32(job.az[i0 + i]);
        if (job.rs) rs = _mm256_set1_epi32(job.rs[i0 + i]);
      }
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        __m256i x = acc[i][v];
        if (job.accumulate)
          x = _mm256_add_epi32(x, _mm256_loadu_si256(reinterpret_cast<__m256i*>(ci + 8 * v)));
        if (job.finish) {
          x = _mm256_add_epi32(x, _mm256_mullo_epi32(az, cb[v]));
          if (job.rs) x = _mm256_sub_epi32(x, _mm256_mullo_epi32(rs, bz[v]));
        }
        if (to_float) {
          // Multiply, then add: two roundings, as the scalar store_float.
          __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(x), sc[v]);
          if (job.bias) f = _mm256_add_ps(f, bi[v]);
          _mm256_storeu_ps(job.y + (i0 + i) * job.ldy + j0 + 8 * v, f);
        } else {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(ci + 8 * v), x);
        }
      }
    }
    return;
  }
  // Edge tile: the scalar epilogue on the rows and columns inside the block.
  int32_t tmp[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(&tmp[i][8 * v]), acc[i][v]);
  for (int64_t i = 0; i < m; ++i) {
    const int32_t* ci = c ? c + i * job.ldc : nullptr;
    for (int64_t j = 0; j < n; ++j) {
      const int32_t old = job.accumulate ? ci[j] : 0;
      store_value(finish_value(static_cast<uint32_t>(tmp[i][j]), job, i0 + i, j0 + j, old), job,
                  i0 + i, j0 + j);
    }
  }
}

}  // namespace

void tiles_avx2(const TileJob& job, int64_t t_begin, int64_t t_end) {
  const int64_t n_jr = (job.nc + NR - 1) / NR;
  const int16_t* pa = static_cast<const int16_t*>(job.pa);
  const int16_t* pb = static_cast<const int16_t*>(job.pb);
  for (int64_t t = t_begin; t < t_end; ++t) {
    const int64_t ir = t / n_jr, jr = t % n_jr;
    const int64_t m = min64(MR, job.mc - ir * MR);
    const int64_t n = min64(NR, job.nc - jr * NR);
    tile(job, pa + ir * MR * job.kp, pb + jr * NR * job.kp, ir * MR, jr * NR, m, n);
  }
}

}  // namespace kiln::cpu::fast::qdetail

#if defined(KILN_FAST_POP_TARGET)
#pragma clang attribute pop
#endif
