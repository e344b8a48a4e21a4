// AVX2 + FMA loops of the vectorised float32 math (vec_math.h); compiled with -mavx2 -mfma
// (flags.cmake) and called only on CPUs that have both.
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "runtime/cpu/fast/vec_kernels.h"

namespace kiln::cpu::fast::detail {

namespace {

// exp(x) (Cephes expf's range reduction and polynomial, evaluated with FMA): x = n ln2 + r,
// |r| <= ln2 / 2, exp(r) by a degree-7 polynomial, 2^n applied as two power-of-two factors so
// that denormal results are rounded once and n = 128 overflows to inf. Clamping x to
// [-104, 89] first maps -inf to 0 and +inf to inf; the clamps keep NaN (max/min return their
// second operand for NaN).
inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);
  x = _mm256_min_ps(_mm256_set1_ps(89.0f), x);
  const __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 r2 = _mm256_mul_ps(r, r);
  __m256 y = _mm256_fmadd_ps(p, r2, r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  // 2^n = 2^h * 2^(n - h), h = n >> 1: both factors normal for n in [-150, 128].
  const __m256i n = _mm256_cvtps_epi32(fx);
  const __m256i h = _mm256_srai_epi32(n, 1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
  const __m256 s2 =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(n, h), bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}

// exp(x - m) with the rounding error of x - m put back: d + err = x - m exactly (TwoSum), and
// exp(d + err) ~ exp(d) (1 + err). Without it the rounding of x - m alone (up to 2^-24 |x - m|)
// costs several ulp for |x - m| of a few units. err is NaN only where d is infinite; it is
// dropped there.
inline __m256 exp_diff8(__m256 x, __m256 m) {
  const __m256 nm = _mm256_sub_ps(_mm256_setzero_ps(), m);
  const __m256 d = _mm256_add_ps(x, nm);
  const __m256 bb = _mm256_sub_ps(d, x);
  __m256 err = _mm256_add_ps(_mm256_sub_ps(x, _mm256_sub_ps(d, bb)), _mm256_sub_ps(nm, bb));
  err = _mm256_and_ps(err, _mm256_cmp_ps(err, err, _CMP_ORD_Q));
  const __m256 e = exp8(d);
  return _mm256_fmadd_ps(e, err, e);
}

// erf(x) (coefficients fitted for kiln, see erf_coefficients in vec_kernels.h): |x| < 1.2 gives
// x P(x^2); 1.2 <= |x| < 3.93 gives 1 - exp(Q(|x| - 2.4)), Q ~ log(erfc); above, +-1. The sign
// is copied from x, so -0 stays -0 and -inf gives -1; NaN gives NaN.
inline __m256 erf8(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_andnot_ps(sign, x);
  const __m256 t = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(kErfSmall[6]);
  for (int k = 5; k >= 0; --k) p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(kErfSmall[k]));
  const __m256 small = _mm256_mul_ps(x, p);
  const __m256 u =
      _mm256_sub_ps(_mm256_min_ps(ax, _mm256_set1_ps(kErfBig)), _mm256_set1_ps(kErfCenter));
  __m256 q = _mm256_set1_ps(kErfLarge[8]);
  for (int k = 7; k >= 0; --k) q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(kErfLarge[k]));
  __m256 large = _mm256_sub_ps(_mm256_set1_ps(1.0f), exp8(q));
  large = _mm256_blendv_ps(large, _mm256_set1_ps(1.0f),
                           _mm256_cmp_ps(ax, _mm256_set1_ps(kErfBig), _CMP_GE_OQ));
  large = _mm256_or_ps(large, _mm256_and_ps(sign, x));
  // Not (|x| >= 1.2) is true for NaN, whose small-branch result is NaN.
  return _mm256_blendv_ps(large, small, _mm256_cmp_ps(ax, _mm256_set1_ps(kErfSplit), _CMP_NGE_UQ));
}

// 0.5 v (1 + erf(v / sqrt(2))), in the reference's order of operations.
inline __m256 gelu8(__m256 v) {
  const __m256 e = erf8(_mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752440f)));
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v),
                       _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

// 0.5 v (1 + tanh(z)) = v / (1 + exp(-2 z)), z = sqrt(2/pi) (v + 0.044715 v^3) in the
// reference's order of operations.
inline __m256 gelu_tanh8(__m256 v) {
  const __m256 c3 = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), v), v), v);
  const __m256 z = _mm256_mul_ps(_mm256_set1_ps(0.79788456080286535588f), _mm256_add_ps(v, c3));
  const __m256 e = exp8(_mm256_mul_ps(_mm256_set1_ps(-2.0f), z));
  return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

inline __m256i tail_mask(int64_t left) {
  alignas(32) static const int kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - left));
}

template <VecBinOp op>
inline __m256 apply(__m256 a, __m256 b) {
  if constexpr (op == VecBinOp::kAdd) return _mm256_add_ps(a, b);
  if constexpr (op == VecBinOp::kSub) return _mm256_sub_ps(a, b);
  if constexpr (op == VecBinOp::kMul) return _mm256_mul_ps(a, b);
  if constexpr (op == VecBinOp::kDiv) return _mm256_div_ps(a, b);
}

template <VecBinOp op, bool a_vec, bool b_vec>
void binary_loop(const float* a, const float* b, float* y, int64_t n) {
  const __m256 as = a_vec ? _mm256_setzero_ps() : _mm256_set1_ps(a[0]);
  const __m256 bs = b_vec ? _mm256_setzero_ps() : _mm256_set1_ps(b[0]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 va = a_vec ? _mm256_loadu_ps(a + i) : as;
    const __m256 vb = b_vec ? _mm256_loadu_ps(b + i) : bs;
    _mm256_storeu_ps(y + i, apply<op>(va, vb));
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    // Masked-off lanes read as 1 so that Div computes nothing odd (the lanes are not stored).
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 va =
        a_vec ? _mm256_blendv_ps(one, _mm256_maskload_ps(a + i, m), _mm256_castsi256_ps(m)) : as;
    const __m256 vb =
        b_vec ? _mm256_blendv_ps(one, _mm256_maskload_ps(b + i, m), _mm256_castsi256_ps(m)) : bs;
    _mm256_maskstore_ps(y + i, m, apply<op>(va, vb));
  }
}

template <VecBinOp op>
void binary_op(const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
  if (sa && sb)
    binary_loop<op, true, true>(a, b, y, n);
  else if (sa)
    binary_loop<op, true, false>(a, b, y, n);
  else if (sb)
    binary_loop<op, false, true>(a, b, y, n);
  else
    binary_loop<op, false, false>(a, b, y, n);
}

}  // namespace

void vec_binary_avx2(VecBinOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* y,
                     int64_t n) {
  switch (op) {
    case VecBinOp::kAdd:
      return binary_op<VecBinOp::kAdd>(a, sa, b, sb, y, n);
    case VecBinOp::kSub:
      return binary_op<VecBinOp::kSub>(a, sa, b, sb, y, n);
    case VecBinOp::kMul:
      return binary_op<VecBinOp::kMul>(a, sa, b, sb, y, n);
    case VecBinOp::kDiv:
      return binary_op<VecBinOp::kDiv>(a, sa, b, sb, y, n);
  }
}

void vec_exp_avx2(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(y + i, m, exp8(_mm256_maskload_ps(x + i, m)));
  }
}

void vec_erf_avx2(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, erf8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(y + i, m, erf8(_mm256_maskload_ps(x + i, m)));
  }
}

void vec_gelu_erf_avx2(const float* x, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(y + i, gelu8(v));
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    __m256 v = _mm256_maskload_ps(x + i, m);
    if (b) v = _mm256_add_ps(v, _mm256_maskload_ps(b + i, m));
    _mm256_maskstore_ps(y + i, m, gelu8(v));
  }
}

double vec_exp_sub_sum_avx2(const float* x, float mx, float* y, int64_t n) {
  const __m256 vm = _mm256_set1_ps(mx);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp_diff8(_mm256_loadu_ps(x + i), vm);
    _mm256_storeu_ps(y + i, e);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    // Masked-off lanes are -inf - mx: exp gives 0 and adds nothing.
    const __m256 xv = _mm256_blendv_ps(_mm256_set1_ps(-std::numeric_limits<float>::infinity()),
                                       _mm256_maskload_ps(x + i, m), _mm256_castsi256_ps(m));
    const __m256 e = exp_diff8(xv, vm);
    _mm256_maskstore_ps(y + i, m, e);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(s0, s1));
  return (t[0] + t[1]) + (t[2] + t[3]);
}

void vec_gelu_tanh_avx2(const float* x, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(y + i, gelu_tanh8(v));
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    __m256 v = _mm256_maskload_ps(x + i, m);
    if (b) v = _mm256_add_ps(v, _mm256_maskload_ps(b + i, m));
    _mm256_maskstore_ps(y + i, m, gelu_tanh8(v));
  }
}

void vec_moments_avx2(const float* x, int64_t n, double* sum, double* sumsq) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  __m256d q0 = _mm256_setzero_pd(), q1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    s0 = _mm256_add_pd(s0, lo);
    s1 = _mm256_add_pd(s1, hi);
    q0 = _mm256_fmadd_pd(lo, lo, q0);
    q1 = _mm256_fmadd_pd(hi, hi, q1);
  }
  alignas(32) double ts[4], tq[4];
  _mm256_store_pd(ts, _mm256_add_pd(s0, s1));
  _mm256_store_pd(tq, _mm256_add_pd(q0, q1));
  double s = (ts[0] + ts[1]) + (ts[2] + ts[3]);
  double q = (tq[0] + tq[1]) + (tq[2] + tq[3]);
  for (; i < n; ++i) {
    const double v = x[i];
    s += v;
    q += v * v;
  }
  *sum = s;
  *sumsq = q;
}

void vec_norm_apply_avx2(const float* x, int64_t n, float m_hi, float m_lo, float inv,
                         const float* g, const float* b, float* y) {
  const __m256 vh = _mm256_set1_ps(m_hi), vl = _mm256_set1_ps(m_lo), vi = _mm256_set1_ps(inv);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vh), vl);
    const __m256 t = _mm256_mul_ps(d, vi);
    const __m256 bb = b ? _mm256_loadu_ps(b + i) : _mm256_setzero_ps();
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(t, _mm256_loadu_ps(g + i), bb));
  }
  for (; i < n; ++i) {
    const float t = ((x[i] - m_hi) - m_lo) * inv;
    y[i] = std::fma(t, g[i], b ? b[i] : 0.0f);
  }
}

void vec_add3_avx2(const float* a, const float* c, const float* d, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d v =
        _mm256_add_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i)), _mm256_cvtps_pd(_mm_loadu_ps(c + i)));
    if (d) v = _mm256_add_pd(v, _mm256_cvtps_pd(_mm_loadu_ps(d + i)));
    _mm_storeu_ps(y + i, _mm256_cvtpd_ps(v));
  }
  for (; i < n; ++i) {
    double v = static_cast<double>(a[i]) + static_cast<double>(c[i]);
    if (d) v += static_cast<double>(d[i]);
    y[i] = static_cast<float>(v);
  }
}

float vec_max_avx2(const float* x, int64_t n, bool* has_nan) {
  const float ninf = -std::numeric_limits<float>::infinity();
  __m256 mx = _mm256_set1_ps(ninf);
  __m256 nan = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    mx = _mm256_max_ps(mx, v);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    const __m256 v = _mm256_blendv_ps(_mm256_set1_ps(ninf), _mm256_maskload_ps(x + i, m),
                                      _mm256_castsi256_ps(m));
    mx = _mm256_max_ps(mx, v);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  *has_nan = _mm256_movemask_ps(nan) != 0;
  alignas(32) float t[8];
  _mm256_store_ps(t, mx);
  float r = t[0];
  for (int k = 1; k < 8; ++k) r = t[k] > r ? t[k] : r;
  return r;
}

void vec_scale_avx2(float* y, float s, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), vs));
  for (; i < n; ++i) y[i] *= s;
}

void vec_sub_scalar_avx2(const float* x, float s, float* y, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_sub_ps(_mm256_loadu_ps(x + i), vs));
  for (; i < n; ++i) y[i] = x[i] - s;
}

}  // namespace kiln::cpu::fast::detail
