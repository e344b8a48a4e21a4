// AVX-512 loops of the vectorised float32 math (vec_math.h): 16 lanes per step, tails done with
// masked loads and stores. Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma
// (flags.cmake); only called after the dispatcher saw the CPU support them (and AVX2 + FMA). The
// target pragma below gives the same result where the per-file flags are missing, so the file
// builds either way. No standard-library template is used here: an instantiation compiled for this
// instruction set could be picked by the linker for other files.
//
// Every loop here does, per element, the same operations as vec_avx2.cpp in the same order (same
// coefficients from vec_kernels.h, same explicit FMAs, and the same mul / add pairs that the
// compiler contracts into FMAs there, since the data flow is the same), so each element's result
// is bit-identical to the AVX2 loop's: vec_binary, vec_exp, vec_erf, vec_gelu_erf, vec_gelu_tanh,
// vec_norm_apply, vec_add3, vec_scale, vec_sub_scalar. The reductions keep the AVX2 order and so
// are bit-identical too: vec_exp_sub_sum_avx512 and vec_moments_avx512 add each 8-float half of a
// 16-float step into [s0 | s1] one after the other, exactly as the AVX2 loops' s0 / s1 do for
// consecutive 8-float steps, and reduce them the same way; vec_max_avx512 gives the AVX2 loop's
// value and, for the two cases where the AVX2 loop's lane order decides the bits (a zero maximum,
// whose sign depends on which zero came last, and NaN rows), calls the AVX2 loop itself.
#if !defined(__AVX512F__) || !defined(__AVX512DQ__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))), \
                             apply_to = function)
#define KILN_FAST_POP_TARGET 1
#elif defined(__GNUC__)
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#endif
#endif
#include <immintrin.h>

#include "runtime/cpu/fast/vec_kernels.h"

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_ps() / _mm256_undefined_pd() (a
// self-initialised variable) as the unused merge source, which -Wmaybe-uninitialized and
// -Wuninitialized report once they are inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace kiln::cpu::fast::detail {

namespace {

inline __mmask16 tail_mask(int64_t left) {
  return static_cast<__mmask16>((1u << left) - 1u);
}

// exp(x): exp8 of vec_avx2.cpp on 16 lanes (see there for the algorithm).
inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
  const __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 r2 = _mm512_mul_ps(r, r);
  __m512 y = _mm512_fmadd_ps(p, r2, r);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  // 2^n = 2^h * 2^(n - h), h = n >> 1: both factors normal for n in [-150, 128].
  const __m512i n = _mm512_cvtps_epi32(fx);
  const __m512i h = _mm512_srai_epi32(n, 1);
  const __m512i bias = _mm512_set1_epi32(127);
  const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(h, bias), 23));
  const __m512 s2 =
      _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(n, h), bias), 23));
  return _mm512_mul_ps(_mm512_mul_ps(y, s1), s2);
}

// exp(x - m) with the rounding error of x - m put back (exp_diff8 of vec_avx2.cpp). err is NaN
// only where d is infinite; it is replaced by +0 there, as the AVX2 loop's and-mask does.
inline __m512 exp_diff16(__m512 x, __m512 m) {
  const __m512 nm = _mm512_sub_ps(_mm512_setzero_ps(), m);
  const __m512 d = _mm512_add_ps(x, nm);
  const __m512 bb = _mm512_sub_ps(d, x);
  __m512 err = _mm512_add_ps(_mm512_sub_ps(x, _mm512_sub_ps(d, bb)), _mm512_sub_ps(nm, bb));
  err = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(err, err, _CMP_ORD_Q), err);
  const __m512 e = exp16(d);
  return _mm512_fmadd_ps(e, err, e);
}

// erf(x): erf8 of vec_avx2.cpp on 16 lanes (coefficients in vec_kernels.h).
inline __m512 erf16(__m512 x) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512 ax = _mm512_andnot_ps(sign, x);
  const __m512 t = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(kErfSmall[6]);
  for (int k = 5; k >= 0; --k) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(kErfSmall[k]));
  const __m512 small = _mm512_mul_ps(x, p);
  const __m512 u =
      _mm512_sub_ps(_mm512_min_ps(ax, _mm512_set1_ps(kErfBig)), _mm512_set1_ps(kErfCenter));
  __m512 q = _mm512_set1_ps(kErfLarge[8]);
  for (int k = 7; k >= 0; --k) q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(kErfLarge[k]));
  __m512 large = _mm512_sub_ps(_mm512_set1_ps(1.0f), exp16(q));
  large = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, _mm512_set1_ps(kErfBig), _CMP_GE_OQ), large,
                               _mm512_set1_ps(1.0f));
  large = _mm512_or_ps(large, _mm512_and_ps(sign, x));
  // Not (|x| >= 1.2) is true for NaN, whose small-branch result is NaN.
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, _mm512_set1_ps(kErfSplit), _CMP_NGE_UQ), large,
                              small);
}

// 0.5 v (1 + erf(v / sqrt(2))), in the reference's order of operations.
inline __m512 gelu16(__m512 v) {
  const __m512 e = erf16(_mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752440f)));
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v),
                       _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

// v / (1 + exp(-2 z)), z = sqrt(2/pi) (v + 0.044715 v^3) (gelu_tanh8 of vec_avx2.cpp).
inline __m512 gelu_tanh16(__m512 v) {
  const __m512 c3 = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), v), v), v);
  const __m512 z = _mm512_mul_ps(_mm512_set1_ps(0.79788456080286535588f), _mm512_add_ps(v, c3));
  const __m512 e = exp16(_mm512_mul_ps(_mm512_set1_ps(-2.0f), z));
  return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

// The four operations as their own functions (no template: see the file comment). Masked-off
// tail lanes read as 1 so that Div computes nothing odd (the lanes are not stored).
#define KILN_VEC512_BINARY_LOOP(NAME, OP)                                                   \
  void NAME(const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {  \
    const __m512 as = sa ? _mm512_setzero_ps() : _mm512_set1_ps(a[0]);                      \
    const __m512 bs = sb ? _mm512_setzero_ps() : _mm512_set1_ps(b[0]);                      \
    int64_t i = 0;                                                                          \
    if (sa && sb) {                                                                         \
      for (; i + 16 <= n; i += 16)                                                          \
        _mm512_storeu_ps(y + i, OP(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));        \
    } else if (sa) {                                                                        \
      for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, OP(_mm512_loadu_ps(a + i), bs)); \
    } else if (sb) {                                                                        \
      for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, OP(as, _mm512_loadu_ps(b + i))); \
    } else {                                                                                \
      for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, OP(as, bs));                     \
    }                                                                                       \
    if (i < n) {                                                                            \
      const __mmask16 m = tail_mask(n - i);                                                 \
      const __m512 one = _mm512_set1_ps(1.0f);                                              \
      const __m512 va = sa ? _mm512_mask_loadu_ps(one, m, a + i) : as;                      \
      const __m512 vb = sb ? _mm512_mask_loadu_ps(one, m, b + i) : bs;                      \
      _mm512_mask_storeu_ps(y + i, m, OP(va, vb));                                          \
    }                                                                                       \
  }

KILN_VEC512_BINARY_LOOP(add_loop, _mm512_add_ps)
KILN_VEC512_BINARY_LOOP(sub_loop, _mm512_sub_ps)
KILN_VEC512_BINARY_LOOP(mul_loop, _mm512_mul_ps)
KILN_VEC512_BINARY_LOOP(div_loop, _mm512_div_ps)
#undef KILN_VEC512_BINARY_LOOP

}  // namespace

void vec_binary_avx512(VecBinOp op, const float* a, int64_t sa, const float* b, int64_t sb,
                       float* y, int64_t n) {
  switch (op) {
    case VecBinOp::kAdd:
      return add_loop(a, sa, b, sb, y, n);
    case VecBinOp::kSub:
      return sub_loop(a, sa, b, sb, y, n);
    case VecBinOp::kMul:
      return mul_loop(a, sa, b, sb, y, n);
    case VecBinOp::kDiv:
      return div_loop(a, sa, b, sb, y, n);
  }
}

namespace {

// y[i] = f(x[i] + b[i]) (b may be null), 16 lanes at a time, a masked tail.
template <typename F>
inline void bias_map16(const float* x, const float* b, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    if (b) v = _mm512_add_ps(v, _mm512_loadu_ps(b + i));
    _mm512_storeu_ps(y + i, f(v));
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
    _mm512_mask_storeu_ps(y + i, m, f(v));
  }
}

}  // namespace

void vec_exp_avx512(const float* x, float* y, int64_t n) {
  bias_map16(x, nullptr, y, n, [](__m512 v) { return exp16(v); });
}

void vec_erf_avx512(const float* x, float* y, int64_t n) {
  bias_map16(x, nullptr, y, n, [](__m512 v) { return erf16(v); });
}

void vec_gelu_erf_avx512(const float* x, const float* b, float* y, int64_t n) {
  bias_map16(x, b, y, n, [](__m512 v) { return gelu16(v); });
}

// The AVX2 loop keeps s0 (lanes 0-3 of each 8-float step) and s1 (lanes 4-7); here s = [s0 | s1]
// takes the two 8-float halves of each 16-float step one after the other, so every double lane
// sees the same additions in the same order. Masked-off tail lanes are -inf - mx: exp gives +0,
// which leaves the (non-negative) sums as they are, as the AVX2 tail's do.
double vec_exp_sub_sum_avx512(const float* x, float mx, float* y, int64_t n) {
  const __m512 vm = _mm512_set1_ps(mx);
  __m512d s = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp_diff16(_mm512_loadu_ps(x + i), vm);
    _mm512_storeu_ps(y + i, e);
    s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 xv = _mm512_mask_loadu_ps(_mm512_set1_ps(-__builtin_inff()), m, x + i);
    const __m512 e = exp_diff16(xv, vm);
    _mm512_mask_storeu_ps(y + i, m, e);
    s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    if (n - i > 8) s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1)));
  return (t[0] + t[1]) + (t[2] + t[3]);
}

void vec_gelu_tanh_avx512(const float* x, const float* b, float* y, int64_t n) {
  bias_map16(x, b, y, n, [](__m512 v) { return gelu_tanh16(v); });
}

// The AVX2 loop's s0 / s1 (sums) and q0 / q1 (sums of squares) as s = [s0 | s1], q = [q0 | q1],
// each 8-float half added in turn (the AVX2 order), the same reduction, and the same scalar tail
// of fewer than 8 elements added after it (a masked step would add them in another order).
void vec_moments_avx512(const float* x, int64_t n, double* sum, double* sumsq) {
  __m512d s = _mm512_setzero_pd(), q = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512d lo = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
    const __m512d hi = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8));
    s = _mm512_add_pd(s, lo);
    q = _mm512_fmadd_pd(lo, lo, q);
    s = _mm512_add_pd(s, hi);
    q = _mm512_fmadd_pd(hi, hi, q);
  }
  if (i + 8 <= n) {
    const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
    s = _mm512_add_pd(s, v);
    q = _mm512_fmadd_pd(v, v, q);
    i += 8;
  }
  alignas(32) double ts[4], tq[4];
  _mm256_store_pd(ts, _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1)));
  _mm256_store_pd(tq, _mm256_add_pd(_mm512_castpd512_pd256(q), _mm512_extractf64x4_pd(q, 1)));
  double sd = (ts[0] + ts[1]) + (ts[2] + ts[3]);
  double qd = (tq[0] + tq[1]) + (tq[2] + tq[3]);
  for (; i < n; ++i) {
    const double v = x[i];
    sd += v;
    qd += v * v;
  }
  *sum = sd;
  *sumsq = qd;
}

void vec_norm_apply_avx512(const float* x, int64_t n, float m_hi, float m_lo, float inv,
                           const float* g, const float* b, float* y) {
  const __m512 vh = _mm512_set1_ps(m_hi), vl = _mm512_set1_ps(m_lo), vi = _mm512_set1_ps(inv);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 d = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vh), vl);
    const __m512 t = _mm512_mul_ps(d, vi);
    const __m512 bb = b ? _mm512_loadu_ps(b + i) : _mm512_setzero_ps();
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(t, _mm512_loadu_ps(g + i), bb));
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 d = _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vh), vl);
    const __m512 t = _mm512_mul_ps(d, vi);
    const __m512 bb = b ? _mm512_maskz_loadu_ps(m, b + i) : _mm512_setzero_ps();
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(m, g + i), bb));
  }
}

// float(double(a) + double(c) [+ double(d)]) on 8 lanes (one double vector) per step.
void vec_add3_avx512(const float* a, const float* c, const float* d, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512d v = _mm512_add_pd(_mm512_cvtps_pd(_mm256_loadu_ps(a + i)),
                              _mm512_cvtps_pd(_mm256_loadu_ps(c + i)));
    if (d) v = _mm512_add_pd(v, _mm512_cvtps_pd(_mm256_loadu_ps(d + i)));
    _mm256_storeu_ps(y + i, _mm512_cvtpd_ps(v));
  }
  if (i < n) {
    const __mmask8 m = static_cast<__mmask8>((1u << (n - i)) - 1u);
    __m512d v = _mm512_add_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, a + i)),
                              _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, c + i)));
    if (d) v = _mm512_add_pd(v, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, d + i)));
    _mm256_mask_storeu_ps(y + i, m, _mm512_cvtpd_ps(v));
  }
}

float vec_max_avx512(const float* x, int64_t n, bool* has_nan) {
  const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
  __m512 mx = ninf;
  __mmask16 nan = 0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    mx = _mm512_max_ps(mx, v);
    nan = static_cast<__mmask16>(nan | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
  }
  if (i < n) {
    const __m512 v = _mm512_mask_loadu_ps(ninf, tail_mask(n - i), x + i);
    mx = _mm512_max_ps(mx, v);
    nan = static_cast<__mmask16>(nan | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
  }
  // Without NaN the value is the row maximum in any order; only the sign of a zero maximum
  // depends on the AVX2 loop's lane order, so that case (and a NaN row) is left to it.
  const float r = _mm512_reduce_max_ps(mx);
  if (nan != 0 || r == 0.0f) return vec_max_avx2(x, n, has_nan);
  *has_nan = false;
  return r;
}

void vec_scale_avx512(float* y, float s, int64_t n) {
  const __m512 vs = _mm512_set1_ps(s);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), vs));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + i), vs));
  }
}

void vec_sub_scalar_avx512(const float* x, float s, float* y, int64_t n) {
  const __m512 vs = _mm512_set1_ps(s);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_sub_ps(_mm512_loadu_ps(x + i), vs));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vs));
  }
}

}  // namespace kiln::cpu::fast::detail

#if defined(KILN_FAST_POP_TARGET)
#pragma clang attribute pop
#endif
