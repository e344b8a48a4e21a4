// CPU kernels: Conv, ConvTranspose, ConvInteger and QLinearConv. The reference is direct loops
// over 1-D, 2-D and 3-D inputs: each output plane (batch, output channel) is one task; every
// output element accumulates over (input channel, kernel position) in a fixed order. float32 Conv
// over 1-D and 2-D inputs takes a fast path (issue 9): 1x1 stride-1 unpadded convs as one GEMM
// per (batch, group) on the packed SGEMM, other convs as im2col (tiled over output rows so the
// column matrix stays under 32 MiB) + SGEMM, and convs with one input channel per group
// (depthwise) as direct row loops. Threads share out GEMM tiles, im2col rows or output planes,
// never one output's sum, so results do not depend on the thread count.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

#include "runtime/cpu/fast/sgemm.h"
#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/nn_conv_ref.h"
#include "runtime/cpu/ops/nn_internal.h"

namespace kiln::cpu::nn {

namespace {

struct ConvSetup {
  Geom g;
  int64_t n = 0, c = 0, m = 0, group = 1, cg = 0, mg = 0;
};

std::string describe_tensor(const std::string& name, const Tensor& t) {
  return name + " " + dtype_name(t.dtype()) + shape_to_string(t.shape());
}

// Checks that a kernel_shape attribute, when present, matches the weight's spatial dims.
Status check_kernel_shape_attr(const OpContext& ctx, const std::vector<int64_t>& kernel) {
  if (!ctx.has_attr("kernel_shape")) return Status::ok();
  std::vector<int64_t> ks = ctx.attr_ints("kernel_shape");
  if (ks != kernel)
    return ctx.invalid("kernel_shape " + shape_to_string(ks) +
                       " does not match the spatial dims of W " + shape_to_string(kernel));
  return Status::ok();
}

// Conv-family validation: X is N x C x D.., W is M x C/group x k.., group divides C and M.
Status setup_conv(const OpContext& ctx, const Tensor& x, const Tensor& w, ConvSetup* cs) {
  KILN_RETURN_IF_ERROR(check_spatial_rank(ctx, x.shape(), "input X"));
  if (w.rank() != x.rank())
    return ctx.invalid(describe_tensor("weight W", w) + " must have the rank of " +
                       describe_tensor("X", x) + " (M x C/group x k1 ...)");
  cs->group = ctx.attr_int("group", 1);
  if (cs->group <= 0)
    return ctx.invalid("group " + std::to_string(cs->group) + " must be positive");
  cs->n = x.dim(0);
  cs->c = x.dim(1);
  cs->m = w.dim(0);
  if (cs->c % cs->group != 0)
    return ctx.invalid("input channels " + std::to_string(cs->c) + " are not divisible by group " +
                       std::to_string(cs->group));
  if (cs->m % cs->group != 0)
    return ctx.invalid("output channels " + std::to_string(cs->m) +
                       " (W dim 0) are not divisible by group " + std::to_string(cs->group));
  cs->cg = cs->c / cs->group;
  cs->mg = cs->m / cs->group;
  if (w.dim(1) != cs->cg)
    return ctx.invalid(describe_tensor("weight W", w) +
                       " needs dim 1 = C/group = " + std::to_string(cs->cg) + " for " +
                       describe_tensor("X", x) + " and group " + std::to_string(cs->group));
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  KILN_RETURN_IF_ERROR(check_kernel_shape_attr(ctx, kernel));
  return make_geom(ctx, x.shape(), kernel, GeomOptions{}, &cs->g);
}

// acc[o] += sum over (c, k0, k1, k2) of wf(w[c, k]) * xf(x[c, o * s + k * d - pb]) for one output
// plane; positions in the padding contribute nothing.
template <typename Acc, typename XT, typename WT, typename XF, typename WF>
void accumulate_plane(const Geom& g, int64_t cg, const XT* x, const WT* w, Acc* acc, XF xf, WF wf) {
  const int64_t in_sz = g.in_size(), ksz = g.k_size();
  for (int64_t c = 0; c < cg; ++c) {
    const XT* xc = x + c * in_sz;
    const WT* wc = w + c * ksz;
    for (int64_t k0 = 0; k0 < g.k[0]; ++k0) {
      const Range r0 = affine_range(g.out[0], g.s[0], k0 * g.d[0] - g.pb[0], 0, g.in[0]);
      for (int64_t k1 = 0; k1 < g.k[1]; ++k1) {
        const Range r1 = affine_range(g.out[1], g.s[1], k1 * g.d[1] - g.pb[1], 0, g.in[1]);
        for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
          const Range r2 = affine_range(g.out[2], g.s[2], k2 * g.d[2] - g.pb[2], 0, g.in[2]);
          if (r0.lo >= r0.hi || r1.lo >= r1.hi || r2.lo >= r2.hi) continue;
          const Acc wv = wf(wc[(k0 * g.k[1] + k1) * g.k[2] + k2]);
          for (int64_t o0 = r0.lo; o0 < r0.hi; ++o0) {
            const int64_t i0 = o0 * g.s[0] + k0 * g.d[0] - g.pb[0];
            for (int64_t o1 = r1.lo; o1 < r1.hi; ++o1) {
              const int64_t i1 = o1 * g.s[1] + k1 * g.d[1] - g.pb[1];
              const XT* xrow = xc + (i0 * g.in[1] + i1) * g.in[2];
              Acc* arow = acc + (o0 * g.out[1] + o1) * g.out[2];
              int64_t i2 = r2.lo * g.s[2] + k2 * g.d[2] - g.pb[2];
              for (int64_t o2 = r2.lo; o2 < r2.hi; ++o2, i2 += g.s[2])
                arow[o2] += wv * xf(xrow[i2]);
            }
          }
        }
      }
    }
  }
}

bool is_conv_float(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 ||
         t == DType::kBFloat16;
}

// Optional bias B: 1-D of `m` elements of dtype `dt`.
Status check_bias(const OpContext& ctx, size_t index, int64_t m, DType dt, const Tensor** bias) {
  *bias = nullptr;
  if (!ctx.has_input(index)) return Status::ok();
  const Tensor& b = ctx.input(index);
  if (b.dtype() != dt)
    return ctx.invalid(describe_tensor("bias B", b) + " must have dtype " + dtype_name(dt));
  if (b.rank() != 1 || b.dim(0) != m)
    return ctx.invalid(describe_tensor("bias B", b) + " must be 1-D with " + std::to_string(m) +
                       " elements (one per output channel)");
  *bias = &b;
  return Status::ok();
}

template <typename T>
void conv_typed(const OpContext& ctx, const ConvSetup& cs, const Tensor& x, const Tensor& w,
                const Tensor* bias, Tensor* y) {
  using A = compute_t<T>;
  const Geom& g = cs.g;
  const int64_t plane = g.out_size(), in_sz = g.in_size(), ksz = g.k_size();
  const T* xd = x.data<T>();
  const T* wd = w.data<T>();
  const T* bd = bias ? bias->data<T>() : nullptr;
  T* yd = y->data<T>();
  auto load = [](T v) { return to_compute<T>(v); };
  ctx.parallel_for(cs.n * cs.m, 1, [&](int64_t begin, int64_t end) {
    std::vector<A> acc(plane);
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t n = idx / cs.m, m = idx % cs.m, grp = m / cs.mg;
      std::fill(acc.begin(), acc.end(), A(0));
      accumulate_plane<A>(g, cs.cg, xd + (n * cs.c + grp * cs.cg) * in_sz, wd + m * cs.cg * ksz,
                          acc.data(), load, load);
      T* yp = yd + idx * plane;
      if (bd) {
        const A b = to_compute<T>(bd[m]);
        for (int64_t p = 0; p < plane; ++p) yp[p] = from_compute<T>(acc[p] + b);
      } else {
        for (int64_t p = 0; p < plane; ++p) yp[p] = from_compute<T>(acc[p]);
      }
    }
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Fast float32 Conv over 1-D and 2-D inputs (Geom axes 1 and 2; axis 0 is a unit axis).

namespace {

std::atomic<int> g_fast_state{-1};  // -1: not read from the environment yet

// The column matrix of one im2col tile is kept under this many floats (32 MiB).
constexpr int64_t kMaxColFloats = (int64_t{32} << 20) / static_cast<int64_t>(sizeof(float));

bool fast_conv_applies(const ConvSetup& cs, DType dt) {
  const Geom& g = cs.g;
  if (dt != DType::kFloat32 || g.nsp > 2 || !fast_paths_enabled()) return false;
  if (cs.cg <= 0 || cs.mg <= 0) return false;
  // Keep one row of the column matrix (cg * kh * kw floats per output column) sensible.
  const double row =
      static_cast<double>(cs.cg) * static_cast<double>(g.k_size()) * static_cast<double>(g.out[2]);
  return row <= static_cast<double>(kMaxColFloats);
}

// Rows [oh0, oh1) of the im2col matrix of one group: row r = (c * KH + kh) * KW + kw, column
// (oh - oh0) * OW + ow, holding x[c, oh * sh + kh * dh - ph, ow * sw + kw * dw - pw] or 0 in the
// padding.
void im2col_rows(const OpContext& ctx, const Geom& g, int64_t cg, const float* x, int64_t oh0,
                 int64_t oh1, float* col) {
  const int64_t H = g.in[1], W = g.in[2], OW = g.out[2], KH = g.k[1], KW = g.k[2];
  const int64_t ncols = (oh1 - oh0) * OW, sw = g.s[2];
  ctx.parallel_for(cg * KH * KW, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
      const float* xc = x + c * H * W;
      float* dst = col + r * ncols;
      const int64_t woff = kw * g.d[2] - g.pb[2];
      const Range rw = affine_range(OW, sw, woff, 0, W);
      for (int64_t oh = oh0; oh < oh1; ++oh, dst += OW) {
        const int64_t ih = oh * g.s[1] + kh * g.d[1] - g.pb[1];
        if (ih < 0 || ih >= H || rw.lo >= rw.hi) {
          std::fill(dst, dst + OW, 0.0f);
          continue;
        }
        const float* xrow = xc + ih * W;
        std::fill(dst, dst + rw.lo, 0.0f);
        if (sw == 1) {
          std::memcpy(dst + rw.lo, xrow + rw.lo + woff,
                      static_cast<size_t>(rw.hi - rw.lo) * sizeof(float));
        } else {
          for (int64_t ow = rw.lo; ow < rw.hi; ++ow) dst[ow] = xrow[ow * sw + woff];
        }
        std::fill(dst + rw.hi, dst + OW, 0.0f);
      }
    }
  });
}

// One output row of a depthwise conv for one kernel row: out[ow] += sum over kw (in order) of
// wk[kw] * xrow[ow * sw + kw * dw - pw], taps in the padding skipped. Columns [ilo, ihi) have
// every tap inside the row and run without checks (the loop the compiler vectorises); kKw > 0
// fixes the tap count at compile time.
template <int kKw>
inline void depthwise_row(float* __restrict out, const float* __restrict xrow, const float* wk,
                          int64_t kw_n, int64_t W, int64_t OW, int64_t sw, int64_t dw, int64_t pw,
                          int64_t ilo, int64_t ihi) {
  const int64_t KW = kKw > 0 ? kKw : kw_n;
  auto edge = [&](int64_t ow) {
    float a = out[ow];
    for (int64_t kw = 0; kw < KW; ++kw) {
      const int64_t iw = ow * sw + kw * dw - pw;
      if (iw >= 0 && iw < W) a += wk[kw] * xrow[iw];
    }
    out[ow] = a;
  };
  for (int64_t ow = 0; ow < ilo; ++ow) edge(ow);
  for (int64_t ow = ilo; ow < ihi; ++ow) {
    float a = out[ow];
    const float* xs = xrow + (ow * sw - pw);
    for (int64_t kw = 0; kw < KW; ++kw) a += wk[kw] * xs[kw * dw];
    out[ow] = a;
  }
  for (int64_t ow = ihi; ow < OW; ++ow) edge(ow);
}

// One input channel per group (depthwise, with any channel multiplier): per output plane, each
// output row accumulates its kernel taps in (kh, kw) order, the inner loop running over the
// output width.
void conv_depthwise_f32(const OpContext& ctx, const ConvSetup& cs, const float* xd, const float* wd,
                        const float* bd, float* yd) {
  const Geom& g = cs.g;
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2], KH = g.k[1], KW = g.k[2];
  const int64_t in_sz = g.in_size(), plane = g.out_size(), sw = g.s[2], dw = g.d[2], pw = g.pb[2];
  // Output columns whose every tap lies inside the input row.
  int64_t ilo = 0, ihi = OW;
  for (int64_t kw = 0; kw < KW; ++kw) {
    const Range r = affine_range(OW, sw, kw * dw - pw, 0, W);
    ilo = std::max(ilo, r.lo);
    ihi = std::min(ihi, r.hi);
  }
  if (ilo >= ihi) ilo = ihi = OW;
  ctx.parallel_for(cs.n * cs.m, 1, [&](int64_t begin, int64_t end) {
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t n = idx / cs.m, m = idx % cs.m, grp = m / cs.mg;
      const float* xc = xd + (n * cs.c + grp) * in_sz;
      const float* wm = wd + m * KH * KW;
      float* yp = yd + idx * plane;
      for (int64_t oh = 0; oh < OH; ++oh) {
        float* out = yp + oh * OW;
        std::fill(out, out + OW, 0.0f);
        for (int64_t kh = 0; kh < KH; ++kh) {
          const int64_t ih = oh * g.s[1] + kh * g.d[1] - g.pb[1];
          if (ih < 0 || ih >= H) continue;
          const float* xrow = xc + ih * W;
          const float* wk = wm + kh * KW;
          if (KW == 3)
            depthwise_row<3>(out, xrow, wk, KW, W, OW, sw, dw, pw, ilo, ihi);
          else if (KW == 5)
            depthwise_row<5>(out, xrow, wk, KW, W, OW, sw, dw, pw, ilo, ihi);
          else
            depthwise_row<0>(out, xrow, wk, KW, W, OW, sw, dw, pw, ilo, ihi);
        }
        if (bd) {
          const float b = bd[m];
          for (int64_t ow = 0; ow < OW; ++ow) out[ow] += b;
        }
      }
    }
  });
}

void conv_fast_f32(const OpContext& ctx, const ConvSetup& cs, const Tensor& x, const Tensor& w,
                   const Tensor* bias, Tensor* y) {
  const Geom& g = cs.g;
  const float* xd = x.data<float>();
  const float* wd = w.data<float>();
  const float* bd = bias ? bias->data<float>() : nullptr;
  float* yd = y->data<float>();
  if (y->numel() == 0) return;
  if (cs.cg == 1 && cs.group > 1) {
    conv_depthwise_f32(ctx, cs, xd, wd, bd, yd);
    return;
  }
  const int64_t plane = g.out_size(), in_sz = g.in_size(), K = cs.cg * g.k_size();
  const int64_t OH = g.out[1], OW = g.out[2];
  const bool pointwise = g.k_size() == 1 && g.s[1] == 1 && g.s[2] == 1 && g.pb[1] == 0 &&
                         g.pb[2] == 0 && g.pe[1] == 0 && g.pe[2] == 0;
  int64_t tile_rows = OH;
  std::unique_ptr<float[]> col;
  if (!pointwise) {
    tile_rows = std::clamp<int64_t>(kMaxColFloats / std::max<int64_t>(K * OW, 1), 1, OH);
    col.reset(new float[static_cast<size_t>(K * tile_rows * OW)]);
  }
  ThreadPool* pool = &ctx.pool();
  for (int64_t n = 0; n < cs.n; ++n) {
    for (int64_t grp = 0; grp < cs.group; ++grp) {
      const float* xg = xd + (n * cs.c + grp * cs.cg) * in_sz;
      const float* wg = wd + grp * cs.mg * K;
      float* yg = yd + (n * cs.m + grp * cs.mg) * plane;
      if (pointwise) {
        // Y_g [mg, H*W] = W_g [mg, cg] x X_g [cg, H*W].
        fast::sgemm(cs.mg, plane, K, 1.0f, wg, K, 1, xg, plane, 1, 0.0f, yg, plane, pool);
        continue;
      }
      for (int64_t oh0 = 0; oh0 < OH; oh0 += tile_rows) {
        const int64_t oh1 = std::min(OH, oh0 + tile_rows), ncols = (oh1 - oh0) * OW;
        im2col_rows(ctx, g, cs.cg, xg, oh0, oh1, col.get());
        fast::sgemm(cs.mg, ncols, K, 1.0f, wg, K, 1, col.get(), ncols, 1, 0.0f, yg + oh0 * OW,
                    plane, pool);
      }
    }
  }
  if (bd) {
    ctx.parallel_for(cs.n * cs.m, 1, [&](int64_t begin, int64_t end) {
      for (int64_t idx = begin; idx < end; ++idx) {
        const float b = bd[idx % cs.m];
        float* yp = yd + idx * plane;
        for (int64_t p = 0; p < plane; ++p) yp[p] += b;
      }
    });
  }
}

}  // namespace

void set_fast_paths_enabled(bool on) {
  g_fast_state.store(on ? 1 : 0, std::memory_order_relaxed);
}

bool fast_paths_enabled() {
  int s = g_fast_state.load(std::memory_order_relaxed);
  if (s < 0) {
    const char* e = std::getenv("KILN_NN_REFERENCE");
    s = (e != nullptr && *e != '\0' && std::strcmp(e, "0") != 0) ? 0 : 1;
    g_fast_state.store(s, std::memory_order_relaxed);
  }
  return s == 1;
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose

namespace {

template <typename T>
void conv_transpose_typed(const OpContext& ctx, const ConvSetup& cs, const Tensor& x,
                          const Tensor& w, const Tensor* bias, Tensor* y) {
  using A = compute_t<T>;
  const Geom& g = cs.g;
  const int64_t plane = g.out_size(), in_sz = g.in_size(), ksz = g.k_size();
  const T* xd = x.data<T>();
  const T* wd = w.data<T>();
  const T* bd = bias ? bias->data<T>() : nullptr;
  T* yd = y->data<T>();
  ctx.parallel_for(cs.n * cs.m, 1, [&](int64_t begin, int64_t end) {
    std::vector<A> acc(plane);
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t n = idx / cs.m, m = idx % cs.m, grp = m / cs.mg, mm = m % cs.mg;
      std::fill(acc.begin(), acc.end(), A(0));
      for (int64_t c = 0; c < cs.cg; ++c) {
        const int64_t ci = grp * cs.cg + c;
        const T* xc = xd + (n * cs.c + ci) * in_sz;
        const T* wc = wd + (ci * cs.mg + mm) * ksz;
        for (int64_t k0 = 0; k0 < g.k[0]; ++k0) {
          const Range r0 = affine_range(g.in[0], g.s[0], k0 * g.d[0] - g.pb[0], 0, g.out[0]);
          for (int64_t k1 = 0; k1 < g.k[1]; ++k1) {
            const Range r1 = affine_range(g.in[1], g.s[1], k1 * g.d[1] - g.pb[1], 0, g.out[1]);
            for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
              const Range r2 = affine_range(g.in[2], g.s[2], k2 * g.d[2] - g.pb[2], 0, g.out[2]);
              if (r0.lo >= r0.hi || r1.lo >= r1.hi || r2.lo >= r2.hi) continue;
              const A wv = to_compute<T>(wc[(k0 * g.k[1] + k1) * g.k[2] + k2]);
              for (int64_t i0 = r0.lo; i0 < r0.hi; ++i0) {
                const int64_t o0 = i0 * g.s[0] + k0 * g.d[0] - g.pb[0];
                for (int64_t i1 = r1.lo; i1 < r1.hi; ++i1) {
                  const int64_t o1 = i1 * g.s[1] + k1 * g.d[1] - g.pb[1];
                  const T* xrow = xc + (i0 * g.in[1] + i1) * g.in[2];
                  A* arow = acc.data() + (o0 * g.out[1] + o1) * g.out[2];
                  int64_t o2 = r2.lo * g.s[2] + k2 * g.d[2] - g.pb[2];
                  for (int64_t i2 = r2.lo; i2 < r2.hi; ++i2, o2 += g.s[2])
                    arow[o2] += wv * to_compute<T>(xrow[i2]);
                }
              }
            }
          }
        }
      }
      T* yp = yd + idx * plane;
      const A b = bd ? to_compute<T>(bd[m]) : A(0);
      for (int64_t p = 0; p < plane; ++p) yp[p] = from_compute<T>(bd ? acc[p] + b : acc[p]);
    }
  });
}

// Geometry of ConvTranspose: input sizes in `in`, output sizes in `out`, pads as in Conv.
Status setup_conv_transpose(const OpContext& ctx, const Tensor& x, const Tensor& w, ConvSetup* cs) {
  KILN_RETURN_IF_ERROR(check_spatial_rank(ctx, x.shape(), "input X"));
  const int nsp = x.rank() - 2;
  if (w.rank() != x.rank())
    return ctx.invalid(describe_tensor("weight W", w) + " must have the rank of " +
                       describe_tensor("X", x) + " (C x M/group x k1 ...)");
  cs->group = ctx.attr_int("group", 1);
  if (cs->group <= 0)
    return ctx.invalid("group " + std::to_string(cs->group) + " must be positive");
  cs->n = x.dim(0);
  cs->c = x.dim(1);
  if (w.dim(0) != cs->c)
    return ctx.invalid(describe_tensor("weight W", w) + " needs dim 0 = C = " +
                       std::to_string(cs->c) + " for " + describe_tensor("X", x));
  if (cs->c % cs->group != 0)
    return ctx.invalid("input channels " + std::to_string(cs->c) + " are not divisible by group " +
                       std::to_string(cs->group));
  cs->cg = cs->c / cs->group;
  cs->mg = w.dim(1);
  cs->m = cs->mg * cs->group;
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  KILN_RETURN_IF_ERROR(check_kernel_shape_attr(ctx, kernel));

  auto get = [&](const char* name, size_t n, int64_t def) {
    std::vector<int64_t> v = ctx.attr_ints(name);
    if (v.empty()) v.assign(n, def);
    return v;
  };
  std::vector<int64_t> strides = get("strides", nsp, 1), dilations = get("dilations", nsp, 1);
  std::vector<int64_t> pads = get("pads", 2 * nsp, 0), out_pad = get("output_padding", nsp, 0);
  std::vector<int64_t> out_shape = ctx.attr_ints("output_shape");
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  KILN_RETURN_IF_ERROR(name_node(ctx, check_auto_pad(auto_pad)));
  auto check_len = [&](const char* name, const std::vector<int64_t>& v, size_t n) {
    if (v.size() == n) return Status::ok();
    return ctx.invalid(std::string(name) + " " + shape_to_string(v) + " must have " +
                       std::to_string(n) + " values");
  };
  KILN_RETURN_IF_ERROR(check_len("strides", strides, nsp));
  KILN_RETURN_IF_ERROR(check_len("dilations", dilations, nsp));
  KILN_RETURN_IF_ERROR(check_len("pads", pads, 2 * nsp));
  KILN_RETURN_IF_ERROR(check_len("output_padding", out_pad, nsp));
  if (!out_shape.empty()) {
    // Some exporters write the full N x C x spatial shape.
    if (out_shape.size() == static_cast<size_t>(nsp) + 2)
      out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
    KILN_RETURN_IF_ERROR(check_len("output_shape", out_shape, nsp));
  }
  constexpr int64_t kMax = int64_t{1} << 31;
  Geom& g = cs->g;
  g = Geom();
  g.nsp = nsp;
  for (int i = 0; i < nsp; ++i) {
    const int a = geom_axis(g, i);
    const std::string ax = " along spatial axis " + std::to_string(i);
    KILN_RETURN_IF_ERROR(
        name_node(ctx, check_window_axis(i, nsp, kernel, strides, dilations, pads)));
    if (out_pad[i] < 0 || out_pad[i] >= std::max(strides[i], dilations[i]))
      return ctx.invalid("output_padding " + shape_to_string(out_pad) +
                         " must be non-negative and smaller than the stride or the dilation" + ax);
    g.in[a] = x.dim(2 + i);
    g.k[a] = kernel[i];
    g.s[a] = strides[i];
    g.d[a] = dilations[i];
    if (g.in[a] == 0) return ctx.invalid("input X has an empty spatial axis " + std::to_string(i));
    const int64_t eff = (g.k[a] - 1) * g.d[a] + 1;
    if (static_cast<double>(g.s[a]) * static_cast<double>(g.in[a]) + static_cast<double>(eff) >
        4e18)
      return ctx.invalid("output size overflows" + ax);
    const int64_t full = g.s[a] * (g.in[a] - 1) + out_pad[i] + eff;
    const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
    if (!out_shape.empty() || same) {
      const int64_t out = !out_shape.empty() ? out_shape[i] : g.in[a] * g.s[a];
      if (out <= 0 || out > kMax)
        return ctx.invalid("output_shape " + shape_to_string(out_shape) + " must be positive");
      const int64_t total = std::max<int64_t>(0, full - out);
      g.pb[a] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pe[a] = total - g.pb[a];
      g.out[a] = out;
    } else {
      if (auto_pad == "NOTSET") {
        g.pb[a] = pads[i];
        g.pe[a] = pads[i + nsp];
      }
      g.out[a] = full - g.pb[a] - g.pe[a];
      if (g.out[a] <= 0)
        return ctx.invalid("pads " + shape_to_string(pads) + " leave no output" + ax);
    }
  }
  return Status::ok();
}

// Conv and ConvTranspose (`op` in the dtype error): float X, W of X's dtype, optional bias B.
template <bool kTranspose>
Status float_conv_kernel(OpContext& ctx, const char* op) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("needs inputs X and W");
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  if (!is_conv_float(x.dtype()))
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(x.dtype()) + " (" + op +
                                " takes float16, bfloat16, float32 or float64)");
  if (w.dtype() != x.dtype())
    return ctx.invalid(describe_tensor("weight W", w) + " must have the dtype of " +
                       describe_tensor("X", x));
  ConvSetup cs;
  KILN_RETURN_IF_ERROR(kTranspose ? setup_conv_transpose(ctx, x, w, &cs)
                                  : setup_conv(ctx, x, w, &cs));
  const Tensor* bias = nullptr;
  KILN_RETURN_IF_ERROR(check_bias(ctx, 2, cs.m, x.dtype(), &bias));
  KILN_ASSIGN_OR_RETURN(Tensor * y,
                        ctx.allocate_output(0, x.dtype(), out_shape_of(cs.g, cs.n, cs.m)));
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, Half> ||
                  std::is_same_v<T, BFloat16>) {
      if constexpr (kTranspose) {
        conv_transpose_typed<T>(ctx, cs, x, w, bias, y);
      } else if constexpr (std::is_same_v<T, float>) {
        if (fast_conv_applies(cs, x.dtype()))
          conv_fast_f32(ctx, cs, x, w, bias, y);
        else
          conv_typed<T>(ctx, cs, x, w, bias, y);
      } else {
        conv_typed<T>(ctx, cs, x, w, bias, y);
      }
    }
  });
  return Status::ok();
}

}  // namespace

Status conv_kernel(OpContext& ctx) {
  return float_conv_kernel<false>(ctx, "Conv");
}

Status conv_transpose_kernel(OpContext& ctx) {
  return float_conv_kernel<true>(ctx, "ConvTranspose");
}

// ---------------------------------------------------------------------------------------------
// ConvInteger and QLinearConv: int64 accumulation of (x - x_zero_point) * (w - w_zero_point).

namespace {

bool is_int8_type(DType t) {
  return t == DType::kInt8 || t == DType::kUInt8;
}

// A scalar, or (when per_channel > 0) 1-D with one value per output channel.
Status check_scalar_or_channels(const OpContext& ctx, const char* name, const Tensor& t,
                                int64_t per_channel) {
  const bool scalar = t.numel() == 1 && t.rank() <= 1;
  const bool channels = per_channel > 0 && t.rank() == 1 && t.dim(0) == per_channel;
  if (!scalar && !channels)
    return ctx.invalid(describe_tensor(name, t) +
                       (per_channel > 0 ? " must be a scalar or 1-D with one value per output "
                                          "channel (" +
                                              std::to_string(per_channel) + ")"
                                        : std::string(" must be a scalar")));
  return Status::ok();
}

// A zero point: absent (0), one value, or (when per_channel > 0) one value per output channel.
Status read_zero_point(const OpContext& ctx, size_t index, const char* name, DType dt,
                       int64_t per_channel, std::vector<int64_t>* out) {
  out->assign(1, 0);
  if (!ctx.has_input(index)) return Status::ok();
  const Tensor& z = ctx.input(index);
  if (z.dtype() != dt)
    return ctx.invalid(describe_tensor(name, z) + " must have dtype " + dtype_name(dt));
  KILN_RETURN_IF_ERROR(check_scalar_or_channels(ctx, name, z, per_channel));
  *out = z.to_int64_vector();
  return Status::ok();
}

// A scale: one positive finite value, or (per_channel > 0) one per output channel.
Status read_scale(const OpContext& ctx, size_t index, const char* name, int64_t per_channel,
                  std::vector<float>* out) {
  if (!ctx.has_input(index)) return ctx.invalid(std::string("needs input ") + name);
  const Tensor& s = ctx.input(index);
  if (s.dtype() != DType::kFloat32)
    return ctx.invalid(describe_tensor(name, s) + " must be float32");
  KILN_RETURN_IF_ERROR(check_scalar_or_channels(ctx, name, s, per_channel));
  out->assign(s.data<float>(), s.data<float>() + s.numel());
  return Status::ok();
}

// Calls emit(idx, m, acc) for every output plane idx = n * M + m with the plane's integer sums.
template <typename XT, typename WT, typename Emit>
void int_conv_typed(const OpContext& ctx, const ConvSetup& cs, const Tensor& x, const Tensor& w,
                    int64_t x_zp, const std::vector<int64_t>& w_zp, Emit emit) {
  const Geom& g = cs.g;
  const int64_t plane = g.out_size(), in_sz = g.in_size(), ksz = g.k_size();
  const XT* xd = x.data<XT>();
  const WT* wd = w.data<WT>();
  ctx.parallel_for(cs.n * cs.m, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> acc(plane);
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t n = idx / cs.m, m = idx % cs.m, grp = m / cs.mg;
      const int64_t wz = w_zp.size() == 1 ? w_zp[0] : w_zp[m];
      std::fill(acc.begin(), acc.end(), 0);
      accumulate_plane<int64_t>(
          g, cs.cg, xd + (n * cs.c + grp * cs.cg) * in_sz, wd + m * cs.cg * ksz, acc.data(),
          [x_zp](XT v) { return static_cast<int64_t>(v) - x_zp; },
          [wz](WT v) { return static_cast<int64_t>(v) - wz; });
      emit(idx, m, acc.data());
    }
  });
}

// Dispatches over the four (x, w) int8/uint8 combinations.
template <typename F>
void visit_int8_pair(DType xt, DType wt, F&& f) {
  auto with_w = [&](auto xtag) {
    if (wt == DType::kInt8)
      f(xtag, int8_t{});
    else
      f(xtag, uint8_t{});
  };
  if (xt == DType::kInt8)
    with_w(int8_t{});
  else
    with_w(uint8_t{});
}

}  // namespace

Status conv_integer_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("needs inputs x and w");
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  if (!is_int8_type(x.dtype()) || !is_int8_type(w.dtype()))
    return ctx.invalid(describe_tensor("x", x) + " and " + describe_tensor("w", w) +
                       " must be int8 or uint8");
  ConvSetup cs;
  KILN_RETURN_IF_ERROR(setup_conv(ctx, x, w, &cs));
  std::vector<int64_t> x_zp, w_zp;
  KILN_RETURN_IF_ERROR(read_zero_point(ctx, 2, "x_zero_point", x.dtype(), 0, &x_zp));
  KILN_RETURN_IF_ERROR(read_zero_point(ctx, 3, "w_zero_point", w.dtype(), cs.m, &w_zp));
  KILN_ASSIGN_OR_RETURN(Tensor * y,
                        ctx.allocate_output(0, DType::kInt32, out_shape_of(cs.g, cs.n, cs.m)));
  const int64_t plane = cs.g.out_size();
  int32_t* yd = y->data<int32_t>();
  visit_int8_pair(x.dtype(), w.dtype(), [&](auto xtag, auto wtag) {
    int_conv_typed<decltype(xtag), decltype(wtag)>(
        ctx, cs, x, w, x_zp[0], w_zp, [&](int64_t idx, int64_t, const int64_t* acc) {
          // int32 output wraps like the int32 accumulation of other runtimes.
          for (int64_t p = 0; p < plane; ++p)
            yd[idx * plane + p] = static_cast<int32_t>(static_cast<uint32_t>(acc[p]));
        });
  });
  return Status::ok();
}

Status qlinear_conv_kernel(OpContext& ctx) {
  for (size_t i = 0; i < 8; ++i)
    if (!ctx.has_input(i))
      return ctx.invalid(
          "needs inputs x, x_scale, x_zero_point, w, w_scale, w_zero_point, "
          "y_scale and y_zero_point (input " +
          std::to_string(i) + " is missing)");
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(3);
  const Tensor& y_zp_t = ctx.input(7);
  if (!is_int8_type(x.dtype()) || !is_int8_type(w.dtype()) || !is_int8_type(y_zp_t.dtype()))
    return ctx.invalid(describe_tensor("x", x) + ", " + describe_tensor("w", w) + " and " +
                       describe_tensor("y_zero_point", y_zp_t) + " must be int8 or uint8");
  ConvSetup cs;
  KILN_RETURN_IF_ERROR(setup_conv(ctx, x, w, &cs));
  std::vector<int64_t> x_zp, w_zp, y_zp;
  std::vector<float> x_scale, w_scale, y_scale;
  KILN_RETURN_IF_ERROR(read_scale(ctx, 1, "x_scale", 0, &x_scale));
  KILN_RETURN_IF_ERROR(read_zero_point(ctx, 2, "x_zero_point", x.dtype(), 0, &x_zp));
  KILN_RETURN_IF_ERROR(read_scale(ctx, 4, "w_scale", cs.m, &w_scale));
  KILN_RETURN_IF_ERROR(read_zero_point(ctx, 5, "w_zero_point", w.dtype(), cs.m, &w_zp));
  KILN_RETURN_IF_ERROR(read_scale(ctx, 6, "y_scale", 0, &y_scale));
  KILN_RETURN_IF_ERROR(read_zero_point(ctx, 7, "y_zero_point", y_zp_t.dtype(), 0, &y_zp));
  const Tensor* bias = nullptr;
  KILN_RETURN_IF_ERROR(check_bias(ctx, 8, cs.m, DType::kInt32, &bias));
  // The multiplier per output channel, as float32 like the scales (x_scale * w_scale / y_scale).
  std::vector<double> mult(cs.m);
  for (int64_t m = 0; m < cs.m; ++m) {
    const float ws = w_scale.size() == 1 ? w_scale[0] : w_scale[m];
    const float q = x_scale[0] * ws / y_scale[0];
    if (!std::isfinite(q))
      return ctx.invalid("x_scale * w_scale / y_scale is not finite for output channel " +
                         std::to_string(m));
    mult[m] = q;
  }
  const DType yt = y_zp_t.dtype();
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, yt, out_shape_of(cs.g, cs.n, cs.m)));
  const int64_t plane = cs.g.out_size();
  const int32_t* bd = bias ? bias->data<int32_t>() : nullptr;
  const double qmin = yt == DType::kInt8 ? -128 : 0, qmax = yt == DType::kInt8 ? 127 : 255;
  const double zp = static_cast<double>(y_zp[0]);
  visit_int8_pair(x.dtype(), w.dtype(), [&](auto xtag, auto wtag) {
    int_conv_typed<decltype(xtag), decltype(wtag)>(
        ctx, cs, x, w, x_zp[0], w_zp, [&](int64_t idx, int64_t m, const int64_t* acc) {
          const int64_t b = bd ? bd[m] : 0;
          for (int64_t p = 0; p < plane; ++p) {
            double v = std::nearbyint(static_cast<double>(acc[p] + b) * mult[m]) + zp;
            v = std::min(qmax, std::max(qmin, v));
            if (yt == DType::kInt8)
              y->data<int8_t>()[idx * plane + p] = static_cast<int8_t>(v);
            else
              y->data<uint8_t>()[idx * plane + p] = static_cast<uint8_t>(v);
          }
        });
  });
  return Status::ok();
}

}  // namespace kiln::cpu::nn
