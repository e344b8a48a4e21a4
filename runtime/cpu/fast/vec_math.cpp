// The dispatcher of the vectorised float32 math (baseline x86-64 code, no instruction-set
// flags) and its portable scalar loops, which use the same algorithms as the AVX2 and AVX-512
// ones.
#include "runtime/cpu/fast/vec_math.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "runtime/cpu/fast/vec_kernels.h"

namespace kiln::cpu::fast {

namespace {

bool cpu_has_avx2() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// The AVX-512 loops also call an AVX2 one (vec_max's zero / NaN case), so both.
bool cpu_has_avx512() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

VecIsa cpu_best() {
  if (cpu_has_avx512()) return VecIsa::kAvx512;
  return cpu_has_avx2() ? VecIsa::kAvx2 : VecIsa::kGeneric;
}

// KILN_VEC_ISA=generic / avx2 / avx512 caps the choice (never above what the CPU has).
VecIsa detect_best() {
  VecIsa best = cpu_best();
  if (const char* env = std::getenv("KILN_VEC_ISA")) {
    const std::string v(env);
    VecIsa cap = best;
    if (v == "generic")
      cap = VecIsa::kGeneric;
    else if (v == "avx2")
      cap = VecIsa::kAvx2;
    if (static_cast<int>(cap) < static_cast<int>(best)) best = cap;
  }
  return best;
}

std::atomic<int> g_isa{-1};

// Scalar exp with the AVX2 loop's algorithm (see vec_avx2.cpp).
float exp1(float x) {
  if (std::isnan(x)) return x;
  x = std::fmax(-104.0f, std::fmin(89.0f, x));
  const float fx = std::nearbyint(x * 1.44269504088896341f);
  float r = x - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * (r * r) + r + 1.0f;
  const int n = static_cast<int>(fx);
  const int h = n >> 1;
  return std::ldexp(std::ldexp(y, h), n - h);
}

// Scalar erf with the AVX2 loop's algorithm and coefficients (vec_kernels.h).
float erf1(float x) {
  const float ax = std::fabs(x);
  if (std::isnan(x) || ax < detail::kErfSplit) {
    const float t = x * x;
    float p = detail::kErfSmall[6];
    for (int k = 5; k >= 0; --k) p = std::fma(p, t, detail::kErfSmall[k]);
    return x * p;
  }
  float r = 1.0f;
  if (ax < detail::kErfBig) {
    const float u = ax - detail::kErfCenter;
    float q = detail::kErfLarge[8];
    for (int k = 7; k >= 0; --k) q = std::fma(q, u, detail::kErfLarge[k]);
    r = 1.0f - exp1(q);
  }
  return std::copysign(r, x);
}

float gelu_tanh1(float v) {
  const float z = 0.79788456080286535588f * (v + 0.044715f * v * v * v);
  return v / (1.0f + exp1(-2.0f * z));
}

float gelu1(float v) {
  return (0.5f * v) * (1.0f + erf1(v * 0.70710678118654752440f));
}

}  // namespace

namespace {
std::atomic<int> g_fast_override{-1};
}  // namespace

bool elementwise_fast_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("KILN_CPU_ELEMENTWISE");
    return !(v && std::string(v) == "ref");
  }();
  const int o = g_fast_override.load(std::memory_order_relaxed);
  return o < 0 ? enabled : o != 0;
}

void set_elementwise_fast_for_testing(bool on) {
  g_fast_override.store(on ? 1 : 0, std::memory_order_relaxed);
}

VecIsa vec_best_isa() {
  static const VecIsa best = detect_best();
  return best;
}

VecIsa vec_isa() {
  const int v = g_isa.load(std::memory_order_relaxed);
  return v < 0 ? vec_best_isa() : static_cast<VecIsa>(v);
}

bool vec_cpu_supports(VecIsa isa) {
  return static_cast<int>(isa) <= static_cast<int>(cpu_best());
}

void set_vec_isa_for_testing(VecIsa isa) {
  if (!vec_cpu_supports(isa)) isa = vec_best_isa();
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

void vec_binary(VecBinOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* y,
                int64_t n) {
  const VecIsa isa = vec_isa();
  if (isa == VecIsa::kAvx512) return detail::vec_binary_avx512(op, a, sa, b, sb, y, n);
  if (isa == VecIsa::kAvx2) return detail::vec_binary_avx2(op, a, sa, b, sb, y, n);
  for (int64_t i = 0; i < n; ++i) {
    const float x = a[i * sa], z = b[i * sb];
    switch (op) {
      case VecBinOp::kAdd:
        y[i] = x + z;
        break;
      case VecBinOp::kSub:
        y[i] = x - z;
        break;
      case VecBinOp::kMul:
        y[i] = x * z;
        break;
      case VecBinOp::kDiv:
        y[i] = x / z;
        break;
    }
  }
}

void vec_exp(const float* x, float* y, int64_t n) {
  const VecIsa isa = vec_isa();
  if (isa == VecIsa::kAvx512) return detail::vec_exp_avx512(x, y, n);
  if (isa == VecIsa::kAvx2) return detail::vec_exp_avx2(x, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = exp1(x[i]);
}

void vec_erf(const float* x, float* y, int64_t n) {
  const VecIsa isa = vec_isa();
  if (isa == VecIsa::kAvx512) return detail::vec_erf_avx512(x, y, n);
  if (isa == VecIsa::kAvx2) return detail::vec_erf_avx2(x, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = erf1(x[i]);
}

void vec_gelu_erf(const float* x, const float* b, float* y, int64_t n) {
  const VecIsa isa = vec_isa();
  if (isa == VecIsa::kAvx512) return detail::vec_gelu_erf_avx512(x, b, y, n);
  if (isa == VecIsa::kAvx2) return detail::vec_gelu_erf_avx2(x, b, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = gelu1(b ? x[i] + b[i] : x[i]);
}

void vec_gelu_tanh(const float* x, const float* b, float* y, int64_t n) {
  const VecIsa isa = vec_isa();
  if (isa == VecIsa::kAvx512) return detail::vec_gelu_tanh_avx512(x, b, y, n);
  if (isa == VecIsa::kAvx2) return detail::vec_gelu_tanh_avx2(x, b, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = gelu_tanh1(b ? x[i] + b[i] : x[i]);
}

void vec_moments(const float* x, int64_t n, double* sum, double* sumsq) {
  const VecIsa isa = vec_isa();
  if (isa == VecIsa::kAvx512) return detail::vec_moments_avx512(x, n, sum, sumsq);
  if (isa == VecIsa::kAvx2) return detail::vec_moments_avx2(x, n, sum, sumsq);
  double s = 0, q = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    s += v;
    q += v * v;
  }
  *sum = s;
  *sumsq = q;
}

void vec_norm_apply(const float* x, int64_t n, double mean, double inv, const float* g,
                    const float* b, float* y) {
  const float m_hi = static_cast<float>(mean);
  const float m_lo = static_cast<float>(mean - static_cast<double>(m_hi));
  const float fi = static_cast<float>(inv);
  const VecIsa isa = vec_isa();
  if (isa == VecIsa::kAvx512) return detail::vec_norm_apply_avx512(x, n, m_hi, m_lo, fi, g, b, y);
  if (isa == VecIsa::kAvx2) return detail::vec_norm_apply_avx2(x, n, m_hi, m_lo, fi, g, b, y);
  for (int64_t i = 0; i < n; ++i) {
    const float t = ((x[i] - m_hi) - m_lo) * fi;
    y[i] = std::fma(t, g[i], b ? b[i] : 0.0f);
  }
}

void vec_add3(const float* a, const float* c, const float* d, float* y, int64_t n) {
  const VecIsa isa = vec_isa();
  if (isa == VecIsa::kAvx512) return detail::vec_add3_avx512(a, c, d, y, n);
  if (isa == VecIsa::kAvx2) return detail::vec_add3_avx2(a, c, d, y, n);
  for (int64_t i = 0; i < n; ++i) {
    double v = static_cast<double>(a[i]) + static_cast<double>(c[i]);
    if (d) v += static_cast<double>(d[i]);
    y[i] = static_cast<float>(v);
  }
}

void vec_softmax_row(const float* x, float* y, int64_t n, bool log_softmax) {
  const VecIsa isa = vec_isa();
  const bool avx512 = isa == VecIsa::kAvx512, avx2 = isa == VecIsa::kAvx2;
  bool has_nan = false;
  float m = -std::numeric_limits<float>::infinity();
  if (avx512) {
    m = detail::vec_max_avx512(x, n, &has_nan);
  } else if (avx2) {
    m = detail::vec_max_avx2(x, n, &has_nan);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(x[i])) has_nan = true;
      m = x[i] > m ? x[i] : m;
    }
  }
  if (has_nan || !std::isfinite(m)) {
    for (int64_t i = 0; i < n; ++i) y[i] = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  double sum = 0;
  if (avx512) {
    sum = detail::vec_exp_sub_sum_avx512(x, m, y, n);
  } else if (avx2) {
    sum = detail::vec_exp_sub_sum_avx2(x, m, y, n);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      // exp(x - m) with the rounding error of x - m put back (see exp_diff8 in vec_avx2.cpp).
      const float d = x[i] - m;
      const float bb = d - x[i];
      float err = (x[i] - (d - bb)) + (-m - bb);
      if (std::isnan(err)) err = 0.0f;
      const float e = exp1(d);
      y[i] = e + e * err;
      sum += y[i];
    }
  }
  if (log_softmax) {
    // (x - m) - log(sum) in double, rounded once, as the reference does.
    const double md = m, ls = std::log(sum);
    for (int64_t i = 0; i < n; ++i)
      y[i] = static_cast<float>((static_cast<double>(x[i]) - md) - ls);
    return;
  }
  const float inv = static_cast<float>(1.0 / sum);
  if (avx512) {
    detail::vec_scale_avx512(y, inv, n);
  } else if (avx2) {
    detail::vec_scale_avx2(y, inv, n);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  }
}

}  // namespace kiln::cpu::fast
