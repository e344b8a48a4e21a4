// CPU reference kernels: unary elementwise ops (math functions, activations, rounding, Clip,
// IsNaN/IsInf, Not, BitwiseNot). Half types are computed in float and rounded once. float32 Erf
// and Gelu take the vectorised erf / exp of runtime/cpu/fast/vec_math.h (a few ulp from std::erf)
// unless KILN_CPU_ELEMENTWISE=ref.
#include <cfloat>
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/cpu/fast/vec_math.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kGrain = 16384;

template <typename T>
constexpr bool is_half_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
template <typename T>
constexpr bool is_float_v = std::is_floating_point_v<T> || is_half_v<T>;
template <typename T>
constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <typename T>
T wrap_neg(T a) {
  using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
  return static_cast<T>(static_cast<U>(U{0} - static_cast<U>(a)));
}

// double -> integer T: truncation toward zero, NaN -> 0, saturating out of range.
template <typename T>
T double_to_int(double d) {
  if (std::isnan(d)) return 0;
  d = std::trunc(d);
  if (d >= std::ldexp(1.0, std::numeric_limits<T>::digits)) return std::numeric_limits<T>::max();
  if (d < static_cast<double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  return static_cast<T>(d);
}

Status bad_dtype(const OpContext& ctx, DType t) {
  return ctx.invalid(std::string("does not accept inputs of dtype ") + dtype_name(t));
}

// y[i] = f(x[i]) with y of dtype Out.
template <typename Out, typename In, typename F>
Status unary_apply(OpContext& ctx, const Tensor& x, F f) {
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, dtype_of<Out>(), x.shape()));
  const In* px = x.data<In>();
  Out* py = y->data<Out>();
  ctx.parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) py[i] = f(px[i]);
  });
  return Status::ok();
}

// Float types only: y = f(x) computed in float (float, float16, bfloat16) or double.
template <typename F>
Status float_unary(OpContext& ctx, F f) {
  if (!ctx.has_input(0)) return ctx.invalid("input 0 is missing");
  const Tensor& x = ctx.input(0);
  Status st = bad_dtype(ctx, x.dtype());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_v<T>)
      st = unary_apply<T, T>(ctx, x, [&](T v) { return from_compute<T>(f(to_compute(v))); });
  });
  return st;
}

// Numeric types (no bool): f gets and returns the compute type (float for half types).
template <typename F>
Status numeric_unary(OpContext& ctx, F f) {
  if (!ctx.has_input(0)) return ctx.invalid("input 0 is missing");
  const Tensor& x = ctx.input(0);
  Status st = bad_dtype(ctx, x.dtype());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>)
      st = unary_apply<T, T>(ctx, x, [&](T v) { return from_compute<T>(f(to_compute(v))); });
  });
  return st;
}

// Integer x: f computed in double, truncated back; float x: f in the compute type.
template <typename F>
Status numeric_via_double(OpContext& ctx, F f) {
  return numeric_unary(ctx, [&](auto v) {
    using C = decltype(v);
    if constexpr (std::is_integral_v<C>)
      return double_to_int<C>(f(static_cast<double>(v)));
    else
      return f(v);
  });
}

// float32 X through a vectorised loop fn(x, y, n) over chunks of kGrain elements.
template <typename Fn>
Status float32_vec_unary(OpContext& ctx, const Tensor& x, Fn fn) {
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kFloat32, x.shape()));
  const float* px = x.data<float>();
  float* py = y->data<float>();
  ctx.parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) { fn(px + b, py + b, e - b); });
  return Status::ok();
}

bool float32_fast(const OpContext& ctx) {
  return ctx.has_input(0) && ctx.input(0).dtype() == DType::kFloat32 &&
         fast::elementwise_fast_enabled();
}

// --- math ---------------------------------------------------------------------------------------

Status sqrt_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::sqrt(x); });
}
Status exp_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::exp(x); });
}
Status log_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::log(x); });
}
Status tanh_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::tanh(x); });
}
Status sin_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::sin(x); });
}
Status cos_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::cos(x); });
}
Status tan_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::tan(x); });
}
Status asin_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::asin(x); });
}
Status acos_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::acos(x); });
}
Status atan_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::atan(x); });
}
Status sinh_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::sinh(x); });
}
Status cosh_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::cosh(x); });
}
Status asinh_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::asinh(x); });
}
Status acosh_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::acosh(x); });
}
Status atanh_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::atanh(x); });
}
Status floor_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::floor(x); });
}
Status ceil_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::ceil(x); });
}
// Round half to even: nearbyint in the default rounding mode.
Status round_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return std::nearbyint(x); });
}
Status reciprocal_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return decltype(x)(1) / x; });
}
Status erf_kernel(OpContext& c) {
  if (float32_fast(c)) return float32_vec_unary(c, c.input(0), fast::vec_erf);
  return numeric_via_double(c, [](auto x) { return std::erf(x); });
}

Status abs_kernel(OpContext& c) {
  return numeric_unary(c, [](auto x) {
    using C = decltype(x);
    if constexpr (std::is_unsigned_v<C>)
      return x;
    else if constexpr (std::is_integral_v<C>)
      return x < 0 ? wrap_neg(x) : x;
    else
      return std::fabs(x);
  });
}

Status neg_kernel(OpContext& c) {
  if (c.has_input(0) && is_integer(c.input(0).dtype()) && !is_signed(c.input(0).dtype()))
    return bad_dtype(c, c.input(0).dtype());
  return numeric_unary(c, [](auto x) {
    if constexpr (std::is_integral_v<decltype(x)>)
      return wrap_neg(x);
    else
      return -x;
  });
}

Status sign_kernel(OpContext& c) {
  return numeric_unary(c, [](auto x) {
    using C = decltype(x);
    if constexpr (std::is_unsigned_v<C>)
      return x > 0 ? C(1) : C(0);
    else
      return x > C(0) ? C(1) : x < C(0) ? C(-1) : x;  // 0 and NaN stay
  });
}

// --- activations --------------------------------------------------------------------------------

template <typename C>
C sigmoid(C x) {
  if (x >= 0) return C(1) / (C(1) + std::exp(-x));
  const C e = std::exp(x);
  return e / (C(1) + e);
}

template <typename C>
C softplus(C x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

Status sigmoid_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return sigmoid(x); });
}
Status softplus_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return softplus(x); });
}
Status softsign_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return x / (decltype(x)(1) + std::fabs(x)); });
}
Status mish_kernel(OpContext& c) {
  return float_unary(c, [](auto x) { return x * std::tanh(softplus(x)); });
}

Status relu_kernel(OpContext& c) {
  return numeric_unary(c, [](auto x) {
    using C = decltype(x);
    if constexpr (std::is_unsigned_v<C>)
      return x;
    else
      return x < C(0) ? C(0) : x;  // NaN stays NaN
  });
}

Status leaky_relu_kernel(OpContext& c) {
  const float alpha = c.attr_float("alpha", 0.01f);
  return float_unary(c, [alpha](auto x) {
    using C = decltype(x);
    return x < C(0) ? C(alpha) * x : x;
  });
}

Status thresholded_relu_kernel(OpContext& c) {
  const float alpha = c.attr_float("alpha", 1.0f);
  return float_unary(c, [alpha](auto x) {
    using C = decltype(x);
    return x > C(alpha) ? x : C(0);
  });
}

Status elu_kernel(OpContext& c) {
  const float alpha = c.attr_float("alpha", 1.0f);
  return float_unary(c, [alpha](auto x) {
    using C = decltype(x);
    return x < C(0) ? C(alpha) * std::expm1(x) : x;
  });
}

Status selu_kernel(OpContext& c) {
  const float alpha = c.attr_float("alpha", 1.67326319217681884765625f);
  const float gamma = c.attr_float("gamma", 1.05070102214813232421875f);
  return float_unary(c, [alpha, gamma](auto x) {
    using C = decltype(x);
    return x > C(0) ? C(gamma) * x : C(gamma) * (C(alpha) * std::exp(x) - C(alpha));
  });
}

Status celu_kernel(OpContext& c) {
  const float alpha = c.attr_float("alpha", 1.0f);
  if (alpha == 0.0f) return c.invalid("attribute 'alpha' must not be 0");
  return float_unary(c, [alpha](auto x) {
    using C = decltype(x);
    const C a = C(alpha);
    return x > C(0) ? x : a * std::expm1(x / a);  // max(0,x) + min(0,a*(exp(x/a)-1))
  });
}

Status hard_sigmoid_kernel(OpContext& c) {
  const float alpha = c.attr_float("alpha", 0.2f);
  const float beta = c.attr_float("beta", 0.5f);
  return float_unary(c, [alpha, beta](auto x) {
    using C = decltype(x);
    return std::max(C(0), std::min(C(1), C(alpha) * x + C(beta)));
  });
}

Status hard_swish_kernel(OpContext& c) {
  return float_unary(c, [](auto x) {
    using C = decltype(x);
    return x * std::max(C(0), std::min(C(1), x / C(6) + C(0.5)));
  });
}

Status gelu_kernel(OpContext& c) {
  const std::string approx = c.attr_string("approximate", "none");
  if (approx == "none" && float32_fast(c))
    return float32_vec_unary(c, c.input(0), [](const float* x, float* y, int64_t n) {
      fast::vec_gelu_erf(x, nullptr, y, n);
    });
  if (approx == "none")
    return float_unary(c, [](auto x) {
      using C = decltype(x);
      return C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752440)));
    });
  if (approx == "tanh" && float32_fast(c))
    return float32_vec_unary(c, c.input(0), [](const float* x, float* y, int64_t n) {
      fast::vec_gelu_tanh(x, nullptr, y, n);
    });
  if (approx == "tanh")
    return float_unary(c, [](auto x) {
      using C = decltype(x);
      const C k = C(0.79788456080286535588);  // sqrt(2 / pi)
      return C(0.5) * x * (C(1) + std::tanh(k * (x + C(0.044715) * x * x * x)));
    });
  return c.invalid("attribute 'approximate' must be 'none' or 'tanh', not '" + approx + "'");
}

Status shrink_kernel(OpContext& c) {
  const double bias = c.attr_float("bias", 0.0f);
  const double lambd = c.attr_float("lambd", 0.5f);
  return numeric_unary(c, [bias, lambd](auto x) {
    using C = decltype(x);
    if constexpr (std::is_integral_v<C>) {
      const double v = static_cast<double>(x);
      return double_to_int<C>(v < -lambd ? v + bias : v > lambd ? v - bias : 0.0);
    } else {
      return x < C(-lambd) ? x + C(bias) : x > C(lambd) ? x - C(bias) : C(0);
    }
  });
}

// --- Clip ---------------------------------------------------------------------------------------

// Reads an optional scalar bound (input i) of dtype T into *v.
template <typename T>
Status read_bound(const OpContext& c, size_t i, const char* what, compute_t<T>* v) {
  if (!c.has_input(i)) return Status::ok();
  const Tensor& t = c.input(i);
  if (t.dtype() != c.input(0).dtype())
    return c.invalid(std::string("'") + what + "' has dtype " + dtype_name(t.dtype()) +
                     ", the input has " + dtype_name(c.input(0).dtype()));
  if (t.numel() != 1)
    return c.invalid(std::string("'") + what + "' must be a scalar, its shape is " +
                     shape_to_string(t.shape()));
  *v = to_compute(t.data<T>()[0]);
  return Status::ok();
}

Status clip_kernel(OpContext& c) {
  if (!c.has_input(0)) return c.invalid("input 0 is missing");
  const Tensor& x = c.input(0);
  Status st = bad_dtype(c, x.dtype());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = compute_t<T>;
    if constexpr (!std::is_same_v<T, bool>) {
      C lo = std::numeric_limits<C>::lowest(), hi = std::numeric_limits<C>::max();
      if (c.opset() < 11) {
        if constexpr (!is_float_v<T>) return;  // float types only before opset 11
        lo = static_cast<C>(c.attr_float("min", -FLT_MAX));
        hi = static_cast<C>(c.attr_float("max", FLT_MAX));
      } else {
        st = read_bound<T>(c, 1, "min", &lo);
        if (st.is_ok()) st = read_bound<T>(c, 2, "max", &hi);
        if (!st.is_ok()) return;
      }
      // min(max(x, lo), hi): NaN stays NaN, and lo > hi gives hi everywhere (as numpy.clip).
      st = unary_apply<T, T>(c, x, [lo, hi](T v) {
        C y = to_compute(v);
        if (y < lo) y = lo;
        if (hi < y) y = hi;
        return from_compute<T>(y);
      });
    }
  });
  return st;
}

// --- predicates and logic -----------------------------------------------------------------------

Status isnan_kernel(OpContext& c) {
  if (!c.has_input(0)) return c.invalid("input 0 is missing");
  const Tensor& x = c.input(0);
  Status st = bad_dtype(c, x.dtype());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_v<T>)
      st = unary_apply<bool, T>(c, x, [](T v) { return std::isnan(to_compute(v)); });
  });
  return st;
}

Status isinf_kernel(OpContext& c) {
  if (!c.has_input(0)) return c.invalid("input 0 is missing");
  const bool neg = c.attr_int("detect_negative", 1) != 0;
  const bool pos = c.attr_int("detect_positive", 1) != 0;
  const Tensor& x = c.input(0);
  Status st = bad_dtype(c, x.dtype());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_v<T>)
      st = unary_apply<bool, T>(c, x, [neg, pos](T v) {
        const auto f = to_compute(v);
        return std::isinf(f) && (f > 0 ? pos : neg);
      });
  });
  return st;
}

Status not_kernel(OpContext& c) {
  if (!c.has_input(0)) return c.invalid("input 0 is missing");
  const Tensor& x = c.input(0);
  if (x.dtype() != DType::kBool) return bad_dtype(c, x.dtype());
  return unary_apply<bool, bool>(c, x, [](bool v) { return !v; });
}

Status bitwise_not_kernel(OpContext& c) {
  if (!c.has_input(0)) return c.invalid("input 0 is missing");
  const Tensor& x = c.input(0);
  Status st = bad_dtype(c, x.dtype());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_int_v<T>) st = unary_apply<T, T>(c, x, [](T v) { return static_cast<T>(~v); });
  });
  return st;
}

}  // namespace

void register_elementwise_unary_kernels(KernelRegistry& r) {
  r.add("", "Sqrt", sqrt_kernel);
  r.add("", "Exp", exp_kernel);
  r.add("", "Log", log_kernel);
  r.add("", "Erf", erf_kernel, 9);
  r.add("", "Tanh", tanh_kernel);
  r.add("", "Sigmoid", sigmoid_kernel);
  r.add("", "Sin", sin_kernel, 7);
  r.add("", "Cos", cos_kernel, 7);
  r.add("", "Tan", tan_kernel, 7);
  r.add("", "Asin", asin_kernel, 7);
  r.add("", "Acos", acos_kernel, 7);
  r.add("", "Atan", atan_kernel, 7);
  r.add("", "Sinh", sinh_kernel, 9);
  r.add("", "Cosh", cosh_kernel, 9);
  r.add("", "Asinh", asinh_kernel, 9);
  r.add("", "Acosh", acosh_kernel, 9);
  r.add("", "Atanh", atanh_kernel, 9);
  r.add("", "Floor", floor_kernel);
  r.add("", "Ceil", ceil_kernel);
  r.add("", "Round", round_kernel, 11);
  r.add("", "Reciprocal", reciprocal_kernel);
  r.add("", "Abs", abs_kernel);
  r.add("", "Neg", neg_kernel);
  r.add("", "Sign", sign_kernel, 9);
  r.add("", "Relu", relu_kernel);
  r.add("", "LeakyRelu", leaky_relu_kernel);
  r.add("", "ThresholdedRelu", thresholded_relu_kernel, 10);
  r.add("", "Elu", elu_kernel);
  r.add("", "Selu", selu_kernel);
  r.add("", "Celu", celu_kernel, 12);
  r.add("", "HardSigmoid", hard_sigmoid_kernel);
  r.add("", "HardSwish", hard_swish_kernel, 14);
  r.add("", "Gelu", gelu_kernel, 20);
  r.add("", "Softplus", softplus_kernel);
  r.add("", "Softsign", softsign_kernel);
  r.add("", "Mish", mish_kernel, 18);
  r.add("", "Shrink", shrink_kernel, 9);
  r.add("", "Clip", clip_kernel);
  r.add("", "IsNaN", isnan_kernel, 9);
  r.add("", "IsInf", isinf_kernel, 10);
  r.add("", "Not", not_kernel);
  r.add("", "BitwiseNot", bitwise_not_kernel, 18);
}

}  // namespace kiln::cpu
