// CPU kernels: MaxPool (with Indices), AveragePool, LpPool and the global pools over
// N x C x spatial inputs. Each (batch, channel) plane is one task. The reference walks each
// output's window; float32 MaxPool (without Indices) and AveragePool over 1-D and 2-D inputs take
// a row-wise fast path: per output row, each kernel tap (kh, kw) updates the whole row over the
// output columns it reaches (ranges computed once per call), in the reference's (kh, kw) order,
// so results are bit-identical to the reference.
#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/nn_conv_ref.h"
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

Status unsupported_dtype(const OpContext& ctx, DType t, const char* allowed) {
  return ctx.unsupported_here(std::string("dtype ") + dtype_name(t) + " (takes " + allowed + ")");
}

// Reads kernel_shape, ceil_mode and the geometry attributes of a windowed pool.
Status pool_geom(const OpContext& ctx, const Tensor& x, Geom* g) {
  KILN_RETURN_IF_ERROR(check_spatial_rank(ctx, x.shape(), "input X"));
  if (!ctx.has_attr("kernel_shape")) return ctx.invalid("attribute kernel_shape is required");
  std::vector<int64_t> kernel = ctx.attr_ints("kernel_shape");
  const int64_t ceil_mode = ctx.attr_int("ceil_mode", 0);
  if (ceil_mode != 0 && ceil_mode != 1)
    return ctx.invalid("ceil_mode " + std::to_string(ceil_mode) + " must be 0 or 1");
  GeomOptions opt;
  opt.pool = true;
  opt.ceil_mode = ceil_mode == 1;
  return make_geom(ctx, x.shape(), kernel, opt, g);
}

// The window of output position (o0, o1, o2): its start and the valid kernel index ranges.
struct Window {
  int64_t st[kMaxSpatial];
  Range r[kMaxSpatial];
};

inline Window window_at(const Geom& g, int64_t o0, int64_t o1, int64_t o2) {
  Window w;
  const int64_t o[kMaxSpatial] = {o0, o1, o2};
  for (int a = 0; a < kMaxSpatial; ++a) {
    w.st[a] = o[a] * g.s[a] - g.pb[a];
    w.r[a] = affine_range(g.k[a], g.d[a], w.st[a], 0, g.in[a]);
  }
  return w;
}

// Calls f(flat input offset within the plane, i0, i1, i2) for each input element in the window.
template <typename F>
inline void for_window(const Geom& g, const Window& w, F&& f) {
  for (int64_t j0 = w.r[0].lo; j0 < w.r[0].hi; ++j0) {
    const int64_t i0 = w.st[0] + j0 * g.d[0];
    for (int64_t j1 = w.r[1].lo; j1 < w.r[1].hi; ++j1) {
      const int64_t i1 = w.st[1] + j1 * g.d[1];
      const int64_t row = (i0 * g.in[1] + i1) * g.in[2];
      for (int64_t j2 = w.r[2].lo; j2 < w.r[2].hi; ++j2) {
        const int64_t i2 = w.st[2] + j2 * g.d[2];
        f(row + i2, i0, i1, i2);
      }
    }
  }
}

// Calls f(plane index, output offset within the plane, window) for every output element.
template <typename F>
void for_each_output(const OpContext& ctx, const Geom& g, int64_t planes, F&& f) {
  ctx.parallel_for(planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t pl = begin; pl < end; ++pl) {
      int64_t p = 0;
      for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
        for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
          for (int64_t o2 = 0; o2 < g.out[2]; ++o2) f(pl, p++, window_at(g, o0, o1, o2));
    }
  });
}

template <typename T>
void max_pool_typed(const OpContext& ctx, const Geom& g, int64_t planes, const Tensor& x, Tensor* y,
                    Tensor* indices, bool col_major) {
  using A = compute_t<T>;
  const int64_t in_sz = g.in_size(), out_sz = g.out_size();
  const T* xd = x.data<T>();
  T* yd = y->data<T>();
  int64_t* id = indices ? indices->data<int64_t>() : nullptr;
  constexpr A kInit = std::numeric_limits<A>::has_infinity ? -std::numeric_limits<A>::infinity()
                                                           : std::numeric_limits<A>::lowest();
  for_each_output(ctx, g, planes, [&](int64_t pl, int64_t p, const Window& w) {
    const T* xp = xd + pl * in_sz;
    A best = kInit;
    int64_t best_idx = -1;
    for_window(g, w, [&](int64_t off, int64_t i0, int64_t i1, int64_t i2) {
      const A v = to_compute<T>(xp[off]);
      const int64_t idx = col_major ? i0 + (i1 + i2 * g.in[1]) * g.in[0] : off;
      if (best_idx < 0) best_idx = idx;  // stands in until an element beats kInit; NaN never does
      if (v > best) {
        best = v;
        best_idx = idx;
      }
    });
    yd[pl * out_sz + p] = from_compute<T>(best);
    if (id) id[pl * out_sz + p] = pl * in_sz + std::max<int64_t>(best_idx, 0);
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Fast float32 MaxPool / AveragePool over 1-D and 2-D inputs (Geom axes 1 and 2).

namespace {

bool fast_pool_applies(const Geom& g, DType dt) {
  return dt == DType::kFloat32 && g.nsp <= 2 && fast_paths_enabled();
}

// Window positions inside [lo, hi) along one axis for output o (pads count when include_pad).
inline int64_t axis_count(const Geom& g, int a, int64_t o, bool include_pad) {
  const int64_t st = o * g.s[a] - g.pb[a];
  const Range r = include_pad ? affine_range(g.k[a], g.d[a], st, -g.pb[a], g.in[a] + g.pe[a])
                              : affine_range(g.k[a], g.d[a], st, 0, g.in[a]);
  return r.hi - r.lo;
}

// kMax: y = max over the window (NaN never wins, an empty window gives -inf, like the
// reference); otherwise y = sum / count (count from axis_count, NaN when 0).
template <bool kMax>
void pool2d_fast_f32(const OpContext& ctx, const Geom& g, int64_t planes, const float* xd,
                     float* yd, bool include_pad) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2], KH = g.k[1], KW = g.k[2];
  const int64_t in_sz = g.in_size(), out_sz = g.out_size(), sw = g.s[2];
  std::vector<Range> rw(static_cast<size_t>(KW));
  for (int64_t kw = 0; kw < KW; ++kw) rw[kw] = affine_range(OW, sw, kw * g.d[2] - g.pb[2], 0, W);
  std::vector<float> cnt_w(static_cast<size_t>(kMax ? 0 : OW));
  if constexpr (!kMax)
    for (int64_t ow = 0; ow < OW; ++ow)
      cnt_w[ow] = static_cast<float>(axis_count(g, 2, ow, include_pad));
  ctx.parallel_for(planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t pl = begin; pl < end; ++pl) {
      const float* xp = xd + pl * in_sz;
      for (int64_t oh = 0; oh < OH; ++oh) {
        float* __restrict out = yd + pl * out_sz + oh * OW;
        std::fill(out, out + OW, kMax ? -std::numeric_limits<float>::infinity() : 0.0f);
        for (int64_t kh = 0; kh < KH; ++kh) {
          const int64_t ih = oh * g.s[1] + kh * g.d[1] - g.pb[1];
          if (ih < 0 || ih >= H) continue;
          const float* __restrict xrow = xp + ih * W;
          for (int64_t kw = 0; kw < KW; ++kw) {
            const int64_t woff = kw * g.d[2] - g.pb[2], lo = rw[kw].lo, hi = rw[kw].hi;
            if constexpr (kMax) {
              if (sw == 1) {
                for (int64_t ow = lo; ow < hi; ++ow) {
                  const float v = xrow[ow + woff];
                  out[ow] = v > out[ow] ? v : out[ow];
                }
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) {
                  const float v = xrow[ow * sw + woff];
                  out[ow] = v > out[ow] ? v : out[ow];
                }
              }
            } else {
              if (sw == 1) {
                for (int64_t ow = lo; ow < hi; ++ow) out[ow] += xrow[ow + woff];
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) out[ow] += xrow[ow * sw + woff];
              }
            }
          }
        }
        if constexpr (!kMax) {
          const float ch = static_cast<float>(axis_count(g, 1, oh, include_pad));
          for (int64_t ow = 0; ow < OW; ++ow) {
            const float count = ch * cnt_w[ow];
            out[ow] = count > 0 ? out[ow] / count : std::numeric_limits<float>::quiet_NaN();
          }
        }
      }
    }
  });
}

}  // namespace

Status max_pool_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("needs input X");
  const Tensor& x = ctx.input(0);
  const DType dt = x.dtype();
  if (!is_float_dtype(dt) && dt != DType::kInt8 && dt != DType::kUInt8)
    return unsupported_dtype(ctx, dt, "float16, bfloat16, float32, float64, int8 or uint8");
  Geom g;
  KILN_RETURN_IF_ERROR(pool_geom(ctx, x, &g));
  const int64_t storage_order = ctx.attr_int("storage_order", 0);
  if (storage_order != 0 && storage_order != 1)
    return ctx.invalid("storage_order " + std::to_string(storage_order) + " must be 0 or 1");
  const Shape out_shape = out_shape_of(g, x.dim(0), x.dim(1));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, dt, out_shape));
  Tensor* indices = nullptr;
  if (ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(indices, ctx.allocate_output(1, DType::kInt64, out_shape));
  }
  const int64_t planes = x.dim(0) * x.dim(1);
  if (indices == nullptr && fast_pool_applies(g, dt)) {
    pool2d_fast_f32<true>(ctx, g, planes, x.data<float>(), y->data<float>(), false);
    return Status::ok();
  }
  visit_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_like_v<T> || std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>)
      max_pool_typed<T>(ctx, g, planes, x, y, indices, storage_order == 1);
  });
  return Status::ok();
}

namespace {

// Number of window positions inside [lo_pad, in + hi_pad) along every axis.
inline int64_t window_count(const Geom& g, const Window& w, bool include_pad) {
  int64_t n = 1;
  for (int a = 0; a < kMaxSpatial; ++a) {
    const Range r =
        include_pad ? affine_range(g.k[a], g.d[a], w.st[a], -g.pb[a], g.in[a] + g.pe[a]) : w.r[a];
    n *= r.hi - r.lo;
  }
  return n;
}

template <typename T>
void average_pool_typed(const OpContext& ctx, const Geom& g, int64_t planes, const Tensor& x,
                        Tensor* y, bool include_pad) {
  using A = compute_t<T>;
  const int64_t in_sz = g.in_size(), out_sz = g.out_size();
  const T* xd = x.data<T>();
  T* yd = y->data<T>();
  for_each_output(ctx, g, planes, [&](int64_t pl, int64_t p, const Window& w) {
    const T* xp = xd + pl * in_sz;
    A sum = 0;
    for_window(g, w,
               [&](int64_t off, int64_t, int64_t, int64_t) { sum += to_compute<T>(xp[off]); });
    const int64_t count = window_count(g, w, include_pad);
    yd[pl * out_sz + p] = from_compute<T>(count > 0 ? sum / static_cast<A>(count)
                                                    : std::numeric_limits<A>::quiet_NaN());
  });
}

template <typename T>
void lp_pool_typed(const OpContext& ctx, const Geom& g, int64_t planes, const Tensor& x, Tensor* y,
                   int64_t p_norm) {
  const int64_t in_sz = g.in_size(), out_sz = g.out_size();
  const T* xd = x.data<T>();
  T* yd = y->data<T>();
  const double pd = static_cast<double>(p_norm);
  for_each_output(ctx, g, planes, [&](int64_t pl, int64_t p, const Window& w) {
    const T* xp = xd + pl * in_sz;
    double sum = 0;
    for_window(g, w, [&](int64_t off, int64_t, int64_t, int64_t) {
      sum += std::pow(std::fabs(static_cast<double>(to_compute<T>(xp[off]))), pd);
    });
    yd[pl * out_sz + p] = from_compute<T>(static_cast<compute_t<T>>(std::pow(sum, 1.0 / pd)));
  });
}

}  // namespace

Status average_pool_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("needs input X");
  const Tensor& x = ctx.input(0);
  if (!is_float_dtype(x.dtype()))
    return unsupported_dtype(ctx, x.dtype(), "float16, bfloat16, float32 or float64");
  Geom g;
  KILN_RETURN_IF_ERROR(pool_geom(ctx, x, &g));
  const int64_t include_pad = ctx.attr_int("count_include_pad", 0);
  if (include_pad != 0 && include_pad != 1)
    return ctx.invalid("count_include_pad " + std::to_string(include_pad) + " must be 0 or 1");
  KILN_ASSIGN_OR_RETURN(Tensor * y,
                        ctx.allocate_output(0, x.dtype(), out_shape_of(g, x.dim(0), x.dim(1))));
  const int64_t planes = x.dim(0) * x.dim(1);
  if (fast_pool_applies(g, x.dtype())) {
    pool2d_fast_f32<false>(ctx, g, planes, x.data<float>(), y->data<float>(), include_pad == 1);
    return Status::ok();
  }
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_like_v<T>) average_pool_typed<T>(ctx, g, planes, x, y, include_pad == 1);
  });
  return Status::ok();
}

Status lp_pool_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("needs input X");
  const Tensor& x = ctx.input(0);
  if (!is_float_dtype(x.dtype()))
    return unsupported_dtype(ctx, x.dtype(), "float16, bfloat16, float32 or float64");
  Geom g;
  KILN_RETURN_IF_ERROR(pool_geom(ctx, x, &g));
  const int64_t p = ctx.attr_int("p", 2);
  if (p <= 0) return ctx.invalid("p " + std::to_string(p) + " must be positive");
  KILN_ASSIGN_OR_RETURN(Tensor * y,
                        ctx.allocate_output(0, x.dtype(), out_shape_of(g, x.dim(0), x.dim(1))));
  const int64_t planes = x.dim(0) * x.dim(1);
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_like_v<T>) lp_pool_typed<T>(ctx, g, planes, x, y, p);
  });
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Global pools: one value per (batch, channel) over every spatial element.

namespace {

enum class GlobalKind { kAverage, kMax, kLp };

template <typename T>
void global_pool_typed(const OpContext& ctx, int64_t planes, int64_t size, const Tensor& x,
                       Tensor* y, GlobalKind kind, int64_t p_norm) {
  using A = compute_t<T>;
  const T* xd = x.data<T>();
  T* yd = y->data<T>();
  ctx.parallel_for(planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t pl = begin; pl < end; ++pl) {
      const T* xp = xd + pl * size;
      if (kind == GlobalKind::kAverage) {
        A sum = 0;
        for (int64_t i = 0; i < size; ++i) sum += to_compute<T>(xp[i]);
        yd[pl] = from_compute<T>(size > 0 ? sum / static_cast<A>(size)
                                          : std::numeric_limits<A>::quiet_NaN());
      } else if (kind == GlobalKind::kMax) {
        A best = -std::numeric_limits<A>::infinity();
        for (int64_t i = 0; i < size; ++i) {
          const A v = to_compute<T>(xp[i]);
          if (std::isnan(static_cast<double>(v)) || v > best) best = v;
          if (std::isnan(static_cast<double>(best))) break;
        }
        yd[pl] = from_compute<T>(best);
      } else {
        const double pd = static_cast<double>(p_norm);
        double sum = 0;
        for (int64_t i = 0; i < size; ++i)
          sum += std::pow(std::fabs(static_cast<double>(to_compute<T>(xp[i]))), pd);
        yd[pl] = from_compute<T>(static_cast<A>(std::pow(sum, 1.0 / pd)));
      }
    }
  });
}

Status global_pool(OpContext& ctx, GlobalKind kind) {
  if (!ctx.has_input(0)) return ctx.invalid("needs input X");
  const Tensor& x = ctx.input(0);
  if (!is_float_dtype(x.dtype()))
    return unsupported_dtype(ctx, x.dtype(), "float16, bfloat16, float32 or float64");
  if (x.rank() < 3)
    return ctx.invalid("input X must have rank >= 3 (N x C x D1 ...), got shape " +
                       shape_to_string(x.shape()));
  int64_t p = 2;
  if (kind == GlobalKind::kLp) {
    p = ctx.attr_int("p", 2);
    if (p <= 0) return ctx.invalid("p " + std::to_string(p) + " must be positive");
  }
  Shape out_shape = x.shape();
  for (size_t i = 2; i < out_shape.size(); ++i) out_shape[i] = 1;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), out_shape));
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t size = planes > 0 ? x.numel() / planes : 0;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_like_v<T>) global_pool_typed<T>(ctx, planes, size, x, y, kind, p);
  });
  return Status::ok();
}

}  // namespace

Status global_average_pool_kernel(OpContext& ctx) {
  return global_pool(ctx, GlobalKind::kAverage);
}
Status global_max_pool_kernel(OpContext& ctx) {
  return global_pool(ctx, GlobalKind::kMax);
}
Status global_lp_pool_kernel(OpContext& ctx) {
  return global_pool(ctx, GlobalKind::kLp);
}

}  // namespace kiln::cpu::nn
