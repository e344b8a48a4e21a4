// CPU reference kernels for the elementwise ONNX Runtime contrib ops (domain com.microsoft):
// Gelu, FastGelu, BiasGelu, QuickGelu and BiasAdd. float16 / bfloat16 are computed in float,
// double in double. float32 Gelu / BiasGelu / FastGelu take the vectorised erf / exp of
// runtime/cpu/fast/vec_math.h (bias add fused) unless KILN_CPU_ELEMENTWISE=ref.
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "runtime/cpu/fast/vec_math.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/output_alloc.h"

namespace kiln::cpu {

namespace {

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<compute_t<T>>;

// A 1-D bias of X's last dim (the shape ONNX Runtime requires of FastGelu's and BiasGelu's
// bias, and of BiasAdd's); an error otherwise.
Status check_last_dim_bias(const OpContext& ctx, const Tensor& x, const Tensor& bias,
                           const std::string& what) {
  if (x.rank() < 1) return ctx.invalid("input must have rank >= 1");
  if (bias.rank() != 1 || bias.dim(0) != x.dim(-1))
    return ctx.invalid("input '" + what + "' of shape " + shape_to_string(bias.shape()) +
                       " must be 1-D with the input's last dim " + std::to_string(x.dim(-1)));
  if (bias.dtype() != x.dtype()) return ctx.invalid("input '" + what + "' must have X's dtype");
  return Status::ok();
}

// y = f(x [+ bias broadcast over the last dim] [+ skip]) for floating X.
template <typename F>
Status unary_with_bias(OpContext& ctx, const Tensor* bias, const Tensor* skip, F f) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 0");
  const Tensor& x = ctx.input(0);
  if (bias) KILN_RETURN_IF_ERROR(check_last_dim_bias(ctx, x, *bias, "bias"));
  if (skip && (skip->shape() != x.shape() || skip->dtype() != x.dtype()))
    return ctx.invalid("input 'skip' of " + std::string(dtype_name(skip->dtype())) +
                       shape_to_string(skip->shape()) + " must match X " + dtype_name(x.dtype()) +
                       shape_to_string(x.shape()));
  KILN_ASSIGN_OR_RETURN(Tensor * y, allocate_output_uninit(ctx, 0, x.dtype(), x.shape()));
  const int64_t n = x.numel();
  const int64_t c = x.rank() > 0 ? x.dim(-1) : 1;
  bool ok = false;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsFloat<T>) {
      using C = compute_t<T>;
      ok = true;
      const T* xd = x.data<T>();
      const T* bd = bias ? bias->data<T>() : nullptr;
      const T* sd = skip ? skip->data<T>() : nullptr;
      T* yd = y->data<T>();
      if (c <= 0) return;
      // Over rows of the last dim, so the bias index needs no division per element (the
      // arithmetic, and so the result, is the same as element by element).
      ctx.parallel_for(n / c, std::max<int64_t>(1, 4096 / c), [&](int64_t rb, int64_t re) {
        for (int64_t r = rb; r < re; ++r) {
          const int64_t o = r * c;
          for (int64_t j = 0; j < c; ++j) {
            C v = to_compute(xd[o + j]);
            if (bd) v += to_compute(bd[j]);
            if (sd) v += to_compute(sd[o + j]);
            yd[o + j] = from_compute<T>(f(v));
          }
        }
      });
    }
  });
  if (!ok) return ctx.invalid(std::string("unsupported input dtype ") + dtype_name(x.dtype()));
  return Status::ok();
}

// Gelu(X [+ bias over the last dim]) for float32 X through fast::vec_gelu_erf (or, with `tanh`,
// fast::vec_gelu_tanh), rows in parallel.
Status gelu_f32(OpContext& ctx, const Tensor* bias, bool tanh) {
  const auto fn = tanh ? fast::vec_gelu_tanh : fast::vec_gelu_erf;
  const Tensor& x = ctx.input(0);
  if (bias) KILN_RETURN_IF_ERROR(check_last_dim_bias(ctx, x, *bias, "bias"));
  KILN_ASSIGN_OR_RETURN(Tensor * y, allocate_output_uninit(ctx, 0, x.dtype(), x.shape()));
  const int64_t n = x.numel();
  const int64_t c = x.rank() > 0 ? x.dim(-1) : 1;
  if (c <= 0 || n == 0) return Status::ok();
  const float* xd = x.data<float>();
  const float* bd = bias ? bias->data<float>() : nullptr;
  float* yd = y->data<float>();
  if (!bd) {
    ctx.parallel_for(n, 16384, [&](int64_t b, int64_t e) { fn(xd + b, nullptr, yd + b, e - b); });
    return Status::ok();
  }
  ctx.parallel_for(n / c, std::max<int64_t>(1, 4096 / c), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) fn(xd + r * c, bd, yd + r * c, c);
  });
  return Status::ok();
}

bool gelu_fast(const OpContext& ctx) {
  return ctx.has_input(0) && ctx.input(0).dtype() == DType::kFloat32 &&
         fast::elementwise_fast_enabled();
}

template <typename C>
C gelu_erf(C x) {
  return C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752440)));
}

template <typename C>
C gelu_tanh(C x) {
  const C k = C(0.79788456080286535588);  // sqrt(2 / pi)
  return C(0.5) * x * (C(1) + std::tanh(k * (x + C(0.044715) * x * x * x)));
}

}  // namespace

// Gelu(X) = 0.5 X (1 + erf(X / sqrt(2))).
Status contrib_gelu_kernel(OpContext& ctx) {
  if (gelu_fast(ctx)) return gelu_f32(ctx, nullptr, false);
  return unary_with_bias(ctx, nullptr, nullptr, [](auto x) { return gelu_erf(x); });
}

// BiasGelu(A, B) = Gelu(A + B), B 1-D over A's last dim.
Status contrib_bias_gelu_kernel(OpContext& ctx) {
  if (!ctx.has_input(1)) return ctx.invalid("missing input 'B'");
  if (gelu_fast(ctx)) return gelu_f32(ctx, &ctx.input(1), false);
  return unary_with_bias(ctx, &ctx.input(1), nullptr, [](auto x) { return gelu_erf(x); });
}

// FastGelu(X, bias?) = the tanh approximation of Gelu(X + bias).
Status contrib_fast_gelu_kernel(OpContext& ctx) {
  const Tensor* bias = ctx.has_input(1) ? &ctx.input(1) : nullptr;
  if (gelu_fast(ctx)) return gelu_f32(ctx, bias, true);
  return unary_with_bias(ctx, bias, nullptr, [](auto x) { return gelu_tanh(x); });
}

// QuickGelu(X) = X * sigmoid(alpha X), alpha = 1.702 by default.
Status contrib_quick_gelu_kernel(OpContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 1.702f);
  return unary_with_bias(ctx, nullptr, nullptr, [alpha](auto x) {
    using C = decltype(x);
    return x / (C(1) + std::exp(-C(alpha) * x));
  });
}

// BiasAdd(X, bias, skip) = X + bias + skip, X and skip of shape [N, S, C], bias [C].
Status contrib_bias_add_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2))
    return ctx.invalid("needs inputs X, bias and skip");
  if (ctx.input(0).rank() != 3)
    return ctx.invalid("input X must be 3-D [N, S, C], got " +
                       shape_to_string(ctx.input(0).shape()));
  return unary_with_bias(ctx, &ctx.input(1), &ctx.input(2), [](auto x) { return x; });
}

}  // namespace kiln::cpu
