// The fast int8 GEMM's AVX512-VNNI tile loop (12 x 32 micro-kernel: 24 zmm int32 accumulators;
// per group of 4 k, two B vectors of 16 columns x 4 int8 and one broadcast 4 x uint8 A word per
// row feed vpdpbusd, which sums its four u8 x s8 products into int32 without saturation), and
// the AVX-512 min / max and quantization loops of DynamicQuantizeLinear. Compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx512vnni (flags.cmake); only called after the dispatcher
// saw the CPU support them. The target pragma below gives the same result where the per-file
// flags are missing. No standard-library template is used here: an instantiation compiled for
// this instruction set could be picked by the linker for other files.
#if !defined(__AVX512VNNI__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))), \
                             apply_to = function)
#define KILN_FAST_POP_TARGET 1
#elif defined(__GNUC__)
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni")
#endif
#endif
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source of their
// unmasked forms, which -Wuninitialized reports once they are inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "runtime/cpu/fast/qgemm_kernels.h"

namespace kiln::cpu::fast::qdetail {
namespace {

constexpr int MR = kVnniMr, NR = kVnniNr, KU = kVnniKu;
constexpr int NV = NR / 16;

inline int64_t min64(int64_t x, int64_t y) {
  return x < y ? x : y;
}

inline __mmask16 lane_mask(int64_t n) {
  if (n >= 16) return static_cast<__mmask16>(0xFFFF);
  if (n <= 0) return 0;
  return static_cast<__mmask16>((1u << n) - 1u);
}

inline int32_t load_word(const uint8_t* p) {
  int32_t w;
  __builtin_memcpy(&w, p, 4);
  return w;
}

void tile(const TileJob& job, const uint8_t* __restrict a, const int8_t* __restrict b, int64_t i0,
          int64_t j0, int64_t m, int64_t n) {
  __m512i acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_si512();
  // c is null when the float output stage needs no partial sums (one K slice).
  int32_t* c = job.c ? job.c + i0 * job.ldc + j0 : nullptr;
  const int64_t kq = job.kp / KU;
  for (int64_t q = 0; q < kq; ++q) {
    __m512i bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(b + 64 * v);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR * KU), _MM_HINT_T0);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512i ai = _mm512_set1_epi32(load_word(a + KU * i));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], ai, bv[v]);
    }
    a += MR * KU;
    b += NR * KU;
  }
  __mmask16 mask[NV];
  __m512i cb[NV], bz[NV];
  __m512 sc[NV], bi[NV];
  const bool to_float = job.y && job.finish;
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    mask[v] = lane_mask(n - 16 * v);
    cb[v] = _mm512_maskz_loadu_epi32(mask[v], job.cb + j0 + 16 * v);
    bz[v] = _mm512_maskz_loadu_epi32(mask[v], job.bz + j0 + 16 * v);
    sc[v] =
        to_float ? _mm512_maskz_loadu_ps(mask[v], job.scale + j0 + 16 * v) : _mm512_setzero_ps();
    bi[v] = to_float && job.bias ? _mm512_maskz_loadu_ps(mask[v], job.bias + j0 + 16 * v)
                                 : _mm512_setzero_ps();
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    int32_t* ci = c ? c + i * job.ldc : nullptr;
    __m512i az = _mm512_setzero_si512(), rs = _mm512_setzero_si512();
    if (job.finish) {
      az = _mm512_set1_epi32(job.az[i0 + i]);
      if (job.rs) rs = _mm512_set1_epi32(job.rs[i0 + i]);
    }
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512i x = acc[i][v];
      if (job.accumulate) x = _mm512_add_epi32(x, _mm512_maskz_loadu_epi32(mask[v], ci + 16 * v));
      if (job.finish) {
        x = _mm512_add_epi32(x, _mm512_mullo_epi32(az, cb[v]));
        if (job.rs) x = _mm512_sub_epi32(x, _mm512_mullo_epi32(rs, bz[v]));
      }
      if (to_float) {
        // Multiply, then add: two roundings, as the scalar store_float.
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(x), sc[v]);
        if (job.bias) f = _mm512_add_ps(f, bi[v]);
        _mm512_mask_storeu_ps(job.y + (i0 + i) * job.ldy + j0 + 16 * v, mask[v], f);
      } else {
        _mm512_mask_storeu_epi32(ci + 16 * v, mask[v], x);
      }
    }
  }
}

}  // namespace

void tiles_vnni(const TileJob& job, int64_t t_begin, int64_t t_end) {
  const int64_t n_jr = (job.nc + NR - 1) / NR;
  const uint8_t* pa = static_cast<const uint8_t*>(job.pa);
  const int8_t* pb = static_cast<const int8_t*>(job.pb);
  for (int64_t t = t_begin; t < t_end; ++t) {
    const int64_t ir = t / n_jr, jr = t % n_jr;
    const int64_t m = min64(MR, job.mc - ir * MR);
    const int64_t n = min64(NR, job.nc - jr * NR);
    tile(job, pa + ir * MR * job.kp, pb + jr * NR * job.kp, ir * MR, jr * NR, m, n);
  }
}

void minmax_avx512(const float* x, int64_t n, float* mn, float* mx) {
  // vminps / vmaxps return their second operand when either is NaN or both are zeros, so NaNs
  // are skipped and -0.0 never replaces the starting +0.0, as in the reference loop.
  __m512 lo[4], hi[4];
  for (int u = 0; u < 4; ++u) lo[u] = hi[u] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      const __m512 v = _mm512_loadu_ps(x + i + 16 * u);
      lo[u] = _mm512_min_ps(v, lo[u]);
      hi[u] = _mm512_max_ps(v, hi[u]);
    }
  }
  for (; i < n; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(lane_mask(n - i), x + i);  // zero fill: 0 is in range
    lo[0] = _mm512_min_ps(v, lo[0]);
    hi[0] = _mm512_max_ps(v, hi[0]);
  }
  for (int u = 1; u < 4; ++u) {
    lo[0] = _mm512_min_ps(lo[u], lo[0]);
    hi[0] = _mm512_max_ps(hi[u], hi[0]);
  }
  float l[16], h[16];
  _mm512_storeu_ps(l, lo[0]);
  _mm512_storeu_ps(h, hi[0]);
  float rl = 0.0f, rh = 0.0f;
  for (int k = 0; k < 16; ++k) {
    if (l[k] < rl) rl = l[k];
    if (h[k] > rh) rh = h[k];
  }
  *mn = rl;
  *mx = rh;
}

void quantize_u8_avx512(const float* x, int64_t n, float scale, int32_t zp, uint8_t nan_value,
                        uint8_t* y) {
  const __m512 vs = _mm512_set1_ps(scale);
  const __m512 qlo = _mm512_set1_ps(-1024.0f), qhi = _mm512_set1_ps(1024.0f);
  const __m512i vz = _mm512_set1_epi32(zp), vnan = _mm512_set1_epi32(nan_value);
  const __m512i ilo = _mm512_setzero_si512(), ihi = _mm512_set1_epi32(255);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = lane_mask(n - i);
    const __m512 q = _mm512_div_ps(_mm512_maskz_loadu_ps(mask, x + i), vs);
    const __mmask16 nan = _mm512_cmp_ps_mask(q, q, _CMP_UNORD_Q);
    // Far values saturate either way; clamping first keeps the conversion in range (a NaN
    // becomes -1024 here and is replaced below).
    const __m512 qc = _mm512_min_ps(_mm512_max_ps(q, qlo), qhi);
    __m512i r = _mm512_cvt_roundps_epi32(qc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, vz), ilo), ihi);
    r = _mm512_mask_mov_epi32(r, nan, vnan);
    _mm512_mask_cvtepi32_storeu_epi8(y + i, mask, r);
  }
}

}  // namespace kiln::cpu::fast::qdetail

#if defined(KILN_FAST_POP_TARGET)
#pragma clang attribute pop
#endif
