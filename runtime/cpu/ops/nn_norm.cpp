// CPU reference kernels: BatchNormalization (inference) and LRN.
#include <algorithm>
#include <cmath>

#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/nn_internal.h"

namespace kiln::cpu::nn {

namespace {

template <typename T>
constexpr bool is_float_like_v =
    std::is_floating_point_v<T> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

bool is_float_dtype(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 ||
         t == DType::kBFloat16;
}

template <typename T>
void batch_norm_typed(const OpContext& ctx, const Tensor& x, const std::vector<double> params[4],
                      double eps, int64_t channels, int64_t per_element, Tensor* y) {
  using A = compute_t<T>;
  const int64_t n = x.dim(0);
  const int64_t size = channels > 0 && n > 0 ? x.numel() / (n * channels) : 0;
  const T* xd = x.data<T>();
  T* yd = y->data<T>();
  // params: scale, bias, mean, var; per channel, or per (channel, spatial) element.
  ctx.parallel_for(n * channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t pl = begin; pl < end; ++pl) {
      const int64_t c = pl % channels;
      for (int64_t i = 0; i < size; ++i) {
        const int64_t pi = per_element ? c * size + i : c;
        const A scale = static_cast<A>(params[0][pi]), bias = static_cast<A>(params[1][pi]);
        const A mean = static_cast<A>(params[2][pi]), var = static_cast<A>(params[3][pi]);
        const A v = to_compute<T>(xd[pl * size + i]);
        yd[pl * size + i] = from_compute<T>(
            (v - mean) / static_cast<A>(std::sqrt(var + static_cast<A>(eps))) * scale + bias);
      }
    }
  });
}

}  // namespace

Status batch_normalization_kernel(OpContext& ctx) {
  for (size_t i = 0; i < 5; ++i)
    if (!ctx.has_input(i))
      return ctx.invalid("needs inputs X, scale, B, input_mean and input_var (input " +
                         std::to_string(i) + " is missing)");
  const Tensor& x = ctx.input(0);
  if (!is_float_dtype(x.dtype()))
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(x.dtype()) +
                                " (takes float16, bfloat16, float32 or float64)");
  if (x.rank() < 2)
    return ctx.invalid("input X must have rank >= 2 (N x C ...), got shape " +
                       shape_to_string(x.shape()));
  const int opset = ctx.opset();
  if (opset >= 14 && ctx.attr_int("training_mode", 0) != 0)
    return ctx.unsupported_here("training_mode=1 (kiln runs BatchNormalization for inference)");
  if (opset <= 6 && ctx.attr_int("is_test", 0) == 0)
    return ctx.unsupported_here("is_test=0 selects training mode (kiln runs inference only)");
  for (size_t i = 1; i < ctx.num_outputs(); ++i)
    if (ctx.wants_output(i))
      return ctx.unsupported_here("output " + std::to_string(i) +
                                  " (running or saved statistics) exists only in training mode");
  const double eps = ctx.attr_float("epsilon", 1e-5f);
  int64_t spatial = 1;
  if (opset <= 8) spatial = ctx.attr_int("spatial", 1);
  const int64_t channels = x.dim(1);
  Shape element_shape(x.shape().begin() + 1, x.shape().end());
  const char* names[4] = {"scale", "B", "input_mean", "input_var"};
  std::vector<double> params[4];
  bool per_element = false;
  for (int i = 0; i < 4; ++i) {
    const Tensor& p = ctx.input(1 + i);
    if (!is_float_dtype(p.dtype()))
      return ctx.invalid(std::string(names[i]) + " has dtype " + dtype_name(p.dtype()) +
                         ", expected a float type");
    if (opset < 15 && p.dtype() != x.dtype())
      return ctx.invalid(std::string(names[i]) + " has dtype " + dtype_name(p.dtype()) +
                         " but X has " + dtype_name(x.dtype()));
    const bool channel_vec = p.rank() == 1 && p.dim(0) == channels;
    const bool elementwise = spatial == 0 && p.shape() == element_shape;
    if (!channel_vec && !elementwise)
      return ctx.invalid(std::string(names[i]) + " has shape " + shape_to_string(p.shape()) +
                         ", expected [" + std::to_string(channels) + "]" +
                         (spatial == 0 ? " or " + shape_to_string(element_shape) : ""));
    if (i > 0 && (p.rank() == 1) != (ctx.input(1).rank() == 1))
      return ctx.invalid("scale, B, input_mean and input_var must all have the same shape");
    per_element = elementwise && !channel_vec;
    params[i].resize(p.numel());
    for (int64_t j = 0; j < p.numel(); ++j) params[i][j] = p.get_as_double(j);
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_like_v<T>)
      batch_norm_typed<T>(ctx, x, params, eps, channels, per_element, y);
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// LRN: y = x / (bias + alpha / size * sum of squares over neighbouring channels) ^ beta.

namespace {

template <typename T>
void lrn_typed(const OpContext& ctx, const Tensor& x, int64_t size, double alpha, double beta,
               double bias, Tensor* y) {
  const int64_t n = x.dim(0), channels = x.dim(1);
  const int64_t inner = n > 0 && channels > 0 ? x.numel() / (n * channels) : 0;
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  const T* xd = x.data<T>();
  T* yd = y->data<T>();
  ctx.parallel_for(n * channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t pl = begin; pl < end; ++pl) {
      const int64_t b = pl / channels, c = pl % channels;
      const int64_t c0 = std::max<int64_t>(0, c - before);
      const int64_t c1 = std::min<int64_t>(channels - 1, c + after);
      for (int64_t i = 0; i < inner; ++i) {
        double sq = 0;
        for (int64_t cc = c0; cc <= c1; ++cc) {
          const double v = static_cast<double>(to_compute<T>(xd[(b * channels + cc) * inner + i]));
          sq += v * v;
        }
        const double v = static_cast<double>(to_compute<T>(xd[pl * inner + i]));
        const double r = v / std::pow(bias + alpha / static_cast<double>(size) * sq, beta);
        yd[pl * inner + i] = from_compute<T>(static_cast<compute_t<T>>(r));
      }
    }
  });
}

}  // namespace

Status lrn_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("needs input X");
  const Tensor& x = ctx.input(0);
  if (!is_float_dtype(x.dtype()))
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(x.dtype()) +
                                " (takes float16, bfloat16, float32 or float64)");
  if (x.rank() < 3)
    return ctx.invalid("input X must have rank >= 3 (N x C x D1 ...), got shape " +
                       shape_to_string(x.shape()));
  if (!ctx.has_attr("size")) return ctx.invalid("attribute size is required");
  const int64_t size = ctx.attr_int("size", 1);
  if (size <= 0) return ctx.invalid("size " + std::to_string(size) + " must be positive");
  const double alpha = ctx.attr_float("alpha", 1e-4f);
  const double beta = ctx.attr_float("beta", 0.75f);
  const double bias = ctx.attr_float("bias", 1.0f);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_like_v<T>) lrn_typed<T>(ctx, x, size, alpha, beta, bias, y);
  });
  return Status::ok();
}

}  // namespace kiln::cpu::nn
