// CPU reference kernels: LayerNormalization, InstanceNormalization and LpNormalization. Means
// and variances are computed in double in two passes (mean first, then squared deviations).
// float32 LayerNormalization whose Scale / B cover exactly the normalised axes takes the
// vectorised rows of runtime/cpu/fast/vec_math.h (one pass for sum and sum of squares in double,
// one for the output) unless KILN_CPU_ELEMENTWISE=ref.
#include <cmath>
#include <type_traits>

#include "runtime/cpu/fast/vec_math.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"

namespace kiln::cpu {

namespace {

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<compute_t<T>>;

template <typename T>
double ld(const T* p, int64_t i) {
  return static_cast<double>(to_compute(p[i]));
}

template <typename T>
T st(double v) {
  return from_compute<T>(static_cast<compute_t<T>>(v));
}

Status bad_dtype(const OpContext& ctx, DType t) {
  return ctx.invalid(std::string("unsupported input dtype ") + dtype_name(t));
}

// ---- LayerNormalization -----------------------------------------------------------------------

// Offsets of a broadcast operand (scale or bias) seen through X's shape, split at `axis`:
// offset(o * n + i) == outer[o] + inner[i].
struct BroadcastTable {
  std::vector<int64_t> outer, inner;
};

Expected<BroadcastTable> broadcast_table(const OpContext& ctx, const std::string& what,
                                         const Shape& s, const Shape& x, int64_t axis) {
  // Unidirectional (numpy) broadcast: s must not change X's shape.
  bool fits = s.size() <= x.size();
  for (size_t k = 0; fits && k < s.size(); ++k) {
    int64_t d = s[s.size() - 1 - k];
    fits = d == 1 || d == x[x.size() - 1 - k];
  }
  if (!fits)
    return ctx.invalid("input '" + what + "' of shape " + shape_to_string(s) +
                       " does not broadcast to X's shape " + shape_to_string(x));
  std::vector<int64_t> bs = broadcast_strides(s, x);
  BroadcastTable t;
  auto fill = [&](int64_t from, int64_t to, std::vector<int64_t>& out) {
    int64_t count = 1;
    for (int64_t d = from; d < to; ++d) count *= x[d];
    out.assign(static_cast<size_t>(count), 0);
    for (int64_t k = 0; k < count; ++k) {
      int64_t rem = k, off = 0;
      for (int64_t d = to - 1; d >= from; --d) {
        off += (rem % x[d]) * bs[d];
        rem /= x[d];
      }
      out[static_cast<size_t>(k)] = off;
    }
  };
  fill(0, axis, t.outer);
  fill(axis, static_cast<int64_t>(x.size()), t.inner);
  return t;
}

template <typename T, typename U>
void layer_norm_typed(OpContext& ctx, int64_t outer, int64_t n, double eps, const Tensor& x,
                      const Tensor& scale, const Tensor* bias, const BroadcastTable& st_scale,
                      const BroadcastTable& st_bias, Tensor& y, Tensor* mean_out, Tensor* inv_out) {
  const T* xd = x.data<T>();
  const T* sd = scale.data<T>();
  const T* bd = bias ? bias->data<T>() : nullptr;
  T* yd = y.data<T>();
  U* md = mean_out ? mean_out->data<U>() : nullptr;
  U* id = inv_out ? inv_out->data<U>() : nullptr;
  ctx.parallel_for(
      outer, std::max<int64_t>(1, 8192 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          const int64_t base = o * n;
          double sum = 0;
          for (int64_t i = 0; i < n; ++i) sum += ld(xd, base + i);
          const double mean = sum / static_cast<double>(n);
          double sq = 0;
          for (int64_t i = 0; i < n; ++i) {
            double d = ld(xd, base + i) - mean;
            sq += d * d;
          }
          const double inv = 1.0 / std::sqrt(sq / static_cast<double>(n) + eps);
          const int64_t so = st_scale.outer[o], bo = bd ? st_bias.outer[o] : 0;
          for (int64_t i = 0; i < n; ++i) {
            double v = (ld(xd, base + i) - mean) * inv * ld(sd, so + st_scale.inner[i]);
            if (bd) v += ld(bd, bo + st_bias.inner[i]);
            yd[base + i] = st<T>(v);
          }
          if (md) md[o] = st<U>(mean);
          if (id) id[o] = st<U>(inv);
        }
      });
}

// True when the operand seen through `t` is the same contiguous vector of n for every row.
bool per_row_vector(const BroadcastTable& t, int64_t n) {
  if (static_cast<int64_t>(t.inner.size()) != n) return false;
  for (int64_t o : t.outer)
    if (o != 0) return false;
  for (int64_t i = 0; i < n; ++i)
    if (t.inner[static_cast<size_t>(i)] != i) return false;
  return true;
}

// The float32 rows through the vectorised passes: mean and variance from one pass of sums in
// double (var = E[x^2] - mean^2, clamped at 0), then the output in float.
void layer_norm_fast_f32(OpContext& ctx, int64_t outer, int64_t n, double eps, const Tensor& x,
                         const Tensor& scale, const Tensor* bias, Tensor& y, Tensor* mean_out,
                         Tensor* inv_out) {
  const float* xd = x.data<float>();
  const float* sd = scale.data<float>();
  const float* bd = bias ? bias->data<float>() : nullptr;
  float* yd = y.data<float>();
  float* md = mean_out ? mean_out->data<float>() : nullptr;
  float* id = inv_out ? inv_out->data<float>() : nullptr;
  ctx.parallel_for(outer, std::max<int64_t>(1, 8192 / std::max<int64_t>(n, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t o = b; o < e; ++o) {
                       double sum = 0, sumsq = 0;
                       fast::vec_moments(xd + o * n, n, &sum, &sumsq);
                       const double dn = static_cast<double>(n);
                       const double mean = sum / dn;
                       double var = sumsq / dn - mean * mean;
                       if (var < 0) var = 0;
                       const double inv = 1.0 / std::sqrt(var + eps);
                       fast::vec_norm_apply(xd + o * n, n, mean, inv, sd, bd, yd + o * n);
                       if (md) md[o] = static_cast<float>(mean);
                       if (id) id[o] = static_cast<float>(inv);
                     }
                   });
}

Status layer_norm_impl(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("missing input 'X' or 'Scale'");
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const int64_t rank = x.rank();
  if (rank == 0) return ctx.invalid("input 'X' must have rank >= 1");
  int64_t axis = ctx.attr_int("axis", -1);
  if (axis < -rank || axis >= rank)
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
  if (axis < 0) axis += rank;
  const double eps = ctx.attr_float("epsilon", 1e-5f);
  const int64_t stash = ctx.attr_int("stash_type", 1);
  if (stash != static_cast<int64_t>(DType::kFloat32) &&
      stash != static_cast<int64_t>(DType::kBFloat16))
    return ctx.invalid("stash_type " + std::to_string(stash) +
                       " is not float (1) or bfloat16 (16)");
  const DType u = static_cast<DType>(stash);
  if (scale.dtype() != x.dtype() || (bias && bias->dtype() != x.dtype()))
    return ctx.invalid("X, Scale and B must have the same dtype");
  KILN_ASSIGN_OR_RETURN(BroadcastTable ts,
                        broadcast_table(ctx, "Scale", scale.shape(), x.shape(), axis));
  BroadcastTable tb;
  if (bias) {
    KILN_ASSIGN_OR_RETURN(tb, broadcast_table(ctx, "B", bias->shape(), x.shape(), axis));
  }
  int64_t outer = 1, n = 1;
  Shape stat_shape = x.shape();
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) {
      outer *= x.shape()[d];
    } else {
      n *= x.shape()[d];
      stat_shape[d] = 1;
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  Tensor* mean_out = nullptr;
  Tensor* inv_out = nullptr;
  if (ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(mean_out, ctx.allocate_output(1, u, stat_shape));
  }
  if (ctx.wants_output(2)) {
    KILN_ASSIGN_OR_RETURN(inv_out, ctx.allocate_output(2, u, stat_shape));
  }
  if (x.dtype() == DType::kFloat32 && u == DType::kFloat32 && n > 0 &&
      fast::elementwise_fast_enabled() && per_row_vector(ts, n) &&
      (!bias || per_row_vector(tb, n))) {
    layer_norm_fast_f32(ctx, outer, n, eps, x, scale, bias, *y, mean_out, inv_out);
    return Status::ok();
  }
  bool ok = false;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsFloat<T>) {
      ok = true;
      if (u == DType::kFloat32)
        layer_norm_typed<T, float>(ctx, outer, n, eps, x, scale, bias, ts, tb, *y, mean_out,
                                   inv_out);
      else
        layer_norm_typed<T, BFloat16>(ctx, outer, n, eps, x, scale, bias, ts, tb, *y, mean_out,
                                      inv_out);
    }
  });
  if (!ok) return bad_dtype(ctx, x.dtype());
  return Status::ok();
}

// ---- InstanceNormalization --------------------------------------------------------------------

template <typename T>
void instance_norm_typed(OpContext& ctx, int64_t batch, int64_t channels, int64_t spatial,
                         double eps, const Tensor& x, const Tensor& scale, const Tensor& bias,
                         Tensor& y) {
  const T* xd = x.data<T>();
  const T* sd = scale.data<T>();
  const T* bd = bias.data<T>();
  T* yd = y.data<T>();
  ctx.parallel_for(batch * channels, std::max<int64_t>(1, 8192 / std::max<int64_t>(spatial, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t r = b; r < e; ++r) {
                       const int64_t c = r % channels, base = r * spatial;
                       double sum = 0;
                       for (int64_t i = 0; i < spatial; ++i) sum += ld(xd, base + i);
                       const double mean = sum / static_cast<double>(spatial);
                       double sq = 0;
                       for (int64_t i = 0; i < spatial; ++i) {
                         double d = ld(xd, base + i) - mean;
                         sq += d * d;
                       }
                       const double k =
                           ld(sd, c) / std::sqrt(sq / static_cast<double>(spatial) + eps);
                       const double bc = ld(bd, c);
                       for (int64_t i = 0; i < spatial; ++i)
                         yd[base + i] = st<T>((ld(xd, base + i) - mean) * k + bc);
                     }
                   });
}

Status instance_norm_impl(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2))
    return ctx.invalid("needs inputs 'input', 'scale' and 'B'");
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor& bias = ctx.input(2);
  if (x.rank() < 3)
    return ctx.invalid("input must have rank >= 3 (N x C x D1 ...), got shape " +
                       shape_to_string(x.shape()));
  const int64_t batch = x.dim(0), channels = x.dim(1);
  const int64_t spatial = x.numel() / std::max<int64_t>(batch * channels, 1);
  if (scale.shape() != Shape{channels} || bias.shape() != Shape{channels})
    return ctx.invalid("scale and B must have shape [" + std::to_string(channels) + "], got " +
                       shape_to_string(scale.shape()) + " and " + shape_to_string(bias.shape()));
  if (scale.dtype() != x.dtype() || bias.dtype() != x.dtype())
    return ctx.invalid("input, scale and B must have the same dtype");
  const double eps = ctx.attr_float("epsilon", 1e-5f);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  bool ok = false;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsFloat<T>) {
      ok = true;
      instance_norm_typed<T>(ctx, batch, channels, spatial, eps, x, scale, bias, *y);
    }
  });
  if (!ok) return bad_dtype(ctx, x.dtype());
  return Status::ok();
}

// ---- LpNormalization --------------------------------------------------------------------------

template <typename T>
void lp_norm_typed(OpContext& ctx, int64_t outer, int64_t n, int64_t inner, int64_t p,
                   const Tensor& x, Tensor& y) {
  const T* xd = x.data<T>();
  T* yd = y.data<T>();
  ctx.parallel_for(outer * inner, std::max<int64_t>(1, 8192 / std::max<int64_t>(n, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t r = b; r < e; ++r) {
                       const int64_t base = (r / inner) * n * inner + r % inner;
                       double acc = 0;
                       for (int64_t i = 0; i < n; ++i) {
                         double v = ld(xd, base + i * inner);
                         acc += p == 1 ? std::fabs(v) : v * v;
                       }
                       const double norm = p == 1 ? acc : std::sqrt(acc);
                       // A zero norm gives zeros (as ONNX Runtime does) rather than 0/0.
                       for (int64_t i = 0; i < n; ++i)
                         yd[base + i * inner] =
                             st<T>(norm == 0 ? 0.0 : ld(xd, base + i * inner) / norm);
                     }
                   });
}

Status lp_norm_impl(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 'input'");
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  if (rank == 0) return ctx.invalid("input must have rank >= 1");
  int64_t axis = ctx.attr_int("axis", -1);
  if (axis < -rank || axis >= rank)
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
  if (axis < 0) axis += rank;
  const int64_t p = ctx.attr_int("p", 2);
  if (p != 1 && p != 2) return ctx.invalid("p must be 1 or 2, got " + std::to_string(p));
  int64_t outer = 1, n = x.dim(static_cast<int>(axis)), inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) outer *= x.shape()[d];
    if (d > axis) inner *= x.shape()[d];
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  bool ok = false;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsFloat<T>) {
      ok = true;
      lp_norm_typed<T>(ctx, outer, n, inner, p, x, *y);
    }
  });
  if (!ok) return bad_dtype(ctx, x.dtype());
  return Status::ok();
}

}  // namespace

Status layer_norm_kernel(OpContext& ctx) {
  return layer_norm_impl(ctx);
}
Status instance_norm_kernel(OpContext& ctx) {
  return instance_norm_impl(ctx);
}
Status lp_norm_kernel(OpContext& ctx) {
  return lp_norm_impl(ctx);
}

}  // namespace kiln::cpu
