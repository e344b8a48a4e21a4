// The fast SGEMM's AVX-512 tile loop (12 x 32 micro-kernel: 24 zmm accumulators, two B vectors
// and one broadcast A value per k) and its A packing (12 x 16 register transposes). Compiled with
// -mavx512f -mavx512bw -mavx512vl -mfma (flags.cmake); only called after the dispatcher saw the CPU
// support them. The per-file flags come from flags.cmake; the target pragma below gives the same
// result where they are missing, so the file builds either way. No standard-library template is
// used here: an instantiation compiled for this instruction set could be picked by the linker for
// other files.
#if !defined(__AVX512F__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,fma"))), \
                             apply_to = function)
#define KILN_FAST_POP_TARGET 1
#elif defined(__GNUC__)
#pragma GCC target("avx512f,avx512bw,avx512vl,fma")
#endif
#endif
#include <immintrin.h>

#include "runtime/cpu/fast/sgemm_kernels.h"

// GCC 12's AVX-512 shuffle intrinsics pass _mm512_undefined_ps() (a self-initialised variable) as
// the unused merge source, which -Wmaybe-uninitialized reports once they are inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace kiln::cpu::fast::detail {
namespace {

inline int64_t min64(int64_t x, int64_t y) {
  return x < y ? x : y;
}

constexpr int MR = kAvx512Mr, NR = kAvx512Nr;
// Prefetch distance into the B micro-panel, in k steps: every cache line of B is asked for this
// far ahead (one prefetch per line; asking for one line in two ran the in-model MatMuls of
// MiniLM ~5 % slower, with no prefetch ~10 % slower, the weights coming from L3).
constexpr int kPrefetchK = 16;

inline __mmask16 lane_mask(int64_t n) {
  if (n >= 16) return static_cast<__mmask16>(0xFFFF);
  if (n <= 0) return 0;
  return static_cast<__mmask16>((1u << n) - 1u);
}

inline __m512 update(__m512 acc, __m512 va, __m512 vb, const float* c, __mmask16 mask) {
  const __m512 v = _mm512_mul_ps(acc, va);
  if (mask == 0xFFFF) return _mm512_fmadd_ps(_mm512_loadu_ps(c), vb, v);
  return _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, c), vb, v);
}

template <int TM, int NV>
void tile(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
          int64_t m, int64_t n, float alpha, float beta, const char* next, int64_t next_lines) {
  constexpr int TN = 16 * NV;
  __m512 acc[TM][NV];
#pragma GCC unroll 16
  for (int i = 0; i < TM; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
      // Bring this tile of C towards L1 while the k loop runs (it is read or written at the end).
#pragma GCC unroll 16
  for (int i = 0; i < TM; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + TN - 1), _MM_HINT_T0);
  }
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchK * TN + 16 * v), _MM_HINT_T0);
    if (k < next_lines) _mm_prefetch(next + 64 * k, _MM_HINT_T1);
#pragma GCC unroll 16
    for (int i = 0; i < TM; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += MR;  // packed panels are MR rows tall, whatever rows this tile computes
    b += TN;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
  __mmask16 mask[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) mask[v] = lane_mask(n - 16 * v);
  const bool full = n == TN;
#pragma GCC unroll 16
  for (int i = 0; i < TM; ++i) {
    if (i >= m) break;
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512 r;
      if (beta == 0.0f)
        r = _mm512_mul_ps(acc[i][v], va);
      else
        r = update(acc[i][v], va, vb, ci + 16 * v, full ? static_cast<__mmask16>(0xFFFF) : mask[v]);
      if (full)
        _mm512_storeu_ps(ci + 16 * v, r);
      else
        _mm512_mask_storeu_ps(ci + 16 * v, mask[v], r);
    }
  }
}

// The 12 x 16 block of rows r[0 .. 11] (16 consecutive k each) as 16 columns: col[k] lane i =
// r[i] lane k for i < 12 (lanes 12 .. 15 unspecified). Three shuffle stages (ps, pd and 128-bit
// lanes); the four rows a full 16 x 16 transpose would have are never read.
inline void transpose_12x16(const __m512 r[12], __m512 col[16]) {
  __m512 t[12], q[12];
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i) {
    // 128-bit lane L: r[2i][4L], r[2i+1][4L], r[2i][4L+1], r[2i+1][4L+1] (lo), 4L+2, 4L+3 (hi).
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 3
  for (int g = 0; g < 3; ++g) {
    // q[4g + j], lane L: rows 4g .. 4g+3 of column 4L + j.
    const __m512d lo0 = _mm512_castps_pd(t[4 * g]), lo1 = _mm512_castps_pd(t[4 * g + 2]);
    const __m512d hi0 = _mm512_castps_pd(t[4 * g + 1]), hi1 = _mm512_castps_pd(t[4 * g + 3]);
    q[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo0, lo1));
    q[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo0, lo1));
    q[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi0, hi1));
    q[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi0, hi1));
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    // u: lanes L0, L1 of row groups 0 and 1; v: lanes L2, L3; w, x: row group 2 (twice).
    const __m512 u = _mm512_shuffle_f32x4(q[j], q[4 + j], 0x44);
    const __m512 v = _mm512_shuffle_f32x4(q[j], q[4 + j], 0xEE);
    const __m512 w = _mm512_shuffle_f32x4(q[8 + j], q[8 + j], 0x44);
    const __m512 x = _mm512_shuffle_f32x4(q[8 + j], q[8 + j], 0xEE);
    col[j] = _mm512_shuffle_f32x4(u, w, 0x88);
    col[4 + j] = _mm512_shuffle_f32x4(u, w, 0xDD);
    col[8 + j] = _mm512_shuffle_f32x4(v, x, 0x88);
    col[12 + j] = _mm512_shuffle_f32x4(v, x, 0xDD);
  }
}

}  // namespace

void pack_a_avx512(const float* a, int64_t lda, int64_t kc, float* dst) {
  static_assert(MR == 12, "transpose_12x16 packs 12 rows");
  int64_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    __m512 r[MR], col[16];
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) r[i] = _mm512_loadu_ps(a + i * lda + k);
    transpose_12x16(r, col);
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j)
      _mm512_mask_storeu_ps(dst + (k + j) * MR, static_cast<__mmask16>(0x0FFF), col[j]);
  }
  for (; k < kc; ++k)
    for (int i = 0; i < MR; ++i) dst[k * MR + i] = a[i * lda + k];
}

void tiles_avx512(const TileJob& job, int64_t t_begin, int64_t t_end) {
  const int64_t n_jr = (job.nc + NR - 1) / NR;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const int64_t ir = t / n_jr, jr = t % n_jr;
    const int64_t m = min64(MR, job.mc - ir * MR);
    const int64_t n = min64(NR, job.nc - jr * NR);
    const float* pa = job.pa + ir * MR * job.kc;
    const float* pb = job.pb + jr * NR * job.kc;
    float* c = job.c + ir * MR * job.ldc + jr * NR;
    // This tile's share of the next block's lines (this thread's tiles split them evenly).
    const int64_t count = t_end - t_begin, i = t - t_begin;
    const int64_t l0 = job.next_lines * i / count, l1 = job.next_lines * (i + 1) / count;
    const char* next = reinterpret_cast<const char*>(job.next_pb) + 64 * l0;
    const int64_t lines = job.next_pb ? l1 - l0 : 0;
    // A last row panel of 4 or 8 rows (M = 128: 10 full panels and 8 rows) computes only those:
    // the same operations per element, a third or two thirds of the FMAs.
    if (m <= 4)
      tile<4, NR / 16>(job.kc, pa, pb, c, job.ldc, m, n, job.alpha, job.beta, next, lines);
    else if (m <= 8)
      tile<8, NR / 16>(job.kc, pa, pb, c, job.ldc, m, n, job.alpha, job.beta, next, lines);
    else
      tile<MR, NR / 16>(job.kc, pa, pb, c, job.ldc, m, n, job.alpha, job.beta, next, lines);
  }
}

}  // namespace kiln::cpu::fast::detail

#if defined(KILN_FAST_POP_TARGET)
#pragma clang attribute pop
#endif
