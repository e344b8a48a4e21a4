// CPU reference kernels: nn ops (convolutions, pools, normalisation, resizing). This file
// registers them and holds the spatial geometry shared with the OpenCL nn ops; the kernels live
// in nn_*.cpp.
#include <algorithm>

#include "runtime/cpu/ops/nn_internal.h"

namespace kiln::cpu {
namespace nn {

namespace {

// Attribute values bigger than this are rejected (keeps every size computation in int64).
constexpr int64_t kMaxAttr = int64_t{1} << 31;

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t ceil_div(int64_t a, int64_t b) {
  return -floor_div(-a, b);
}

std::string ints_to_string(const std::vector<int64_t>& v) {
  return shape_to_string(v);
}

}  // namespace

Range affine_range(int64_t count, int64_t a, int64_t b, int64_t lo_bound, int64_t hi_bound) {
  int64_t lo = std::max<int64_t>(0, ceil_div(lo_bound - b, a));
  int64_t hi = std::min<int64_t>(count, floor_div(hi_bound - 1 - b, a) + 1);
  if (hi < lo) hi = lo;
  return {lo, hi};
}

Status name_node(const OpContext& ctx, const Status& st) {
  if (st.is_ok()) return st;
  return st.with_context(ctx.node().describe());
}

Status check_spatial_rank(const Shape& x_shape, const std::string& what) {
  if (x_shape.size() < 3)
    return invalid_argument(what + " must have rank >= 3 (N x C x D1 ...), got shape " +
                            shape_to_string(x_shape));
  if (x_shape.size() > 2 + kMaxSpatial)
    return unsupported(what + " has " + std::to_string(x_shape.size() - 2) +
                       " spatial axes; kiln runs 1 to 3");
  return Status::ok();
}

Status check_spatial_rank(const OpContext& ctx, const Shape& x_shape, const std::string& what) {
  return name_node(ctx, check_spatial_rank(x_shape, what));
}

Shape out_shape_of(const Geom& g, int64_t n, int64_t channels) {
  Shape s{n, channels};
  for (int i = 0; i < g.nsp; ++i) s.push_back(g.out[geom_axis(g, i)]);
  return s;
}

WindowAttrs read_window_attrs(const OpContext& ctx) {
  WindowAttrs a;
  a.strides = ctx.attr_ints("strides");
  a.dilations = ctx.attr_ints("dilations");
  a.pads = ctx.attr_ints("pads");
  a.auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  return a;
}

Status check_auto_pad(const std::string& auto_pad) {
  if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" &&
      auto_pad != "VALID")
    return invalid_argument("auto_pad '" + auto_pad +
                            "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  return Status::ok();
}

Status check_window_axis(int i, int nsp, const std::vector<int64_t>& kernel,
                         const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                         const std::vector<int64_t>& pads) {
  const std::string ax = " along spatial axis " + std::to_string(i);
  if (kernel[i] <= 0 || kernel[i] > kMaxAttr)
    return invalid_argument("kernel size " + std::to_string(kernel[i]) + ax + " is not positive");
  if (strides[i] <= 0 || strides[i] > kMaxAttr)
    return invalid_argument("stride " + std::to_string(strides[i]) + ax + " must be positive");
  if (dilations[i] <= 0 || dilations[i] > kMaxAttr)
    return invalid_argument("dilation " + std::to_string(dilations[i]) + ax + " must be positive");
  if (pads[i] < 0 || pads[i + nsp] < 0 || pads[i] > kMaxAttr || pads[i + nsp] > kMaxAttr)
    return invalid_argument("pads " + ints_to_string(pads) + " must be non-negative");
  return Status::ok();
}

Expected<Geom> compute_geom(const Shape& x_shape, const std::vector<int64_t>& kernel,
                            WindowAttrs attrs, const GeomOptions& opt) {
  KILN_RETURN_IF_ERROR(check_spatial_rank(x_shape, "input X"));
  const int nsp = static_cast<int>(x_shape.size()) - 2;
  Geom g;
  g.nsp = nsp;
  if (static_cast<int>(kernel.size()) != nsp)
    return invalid_argument("kernel_shape " + ints_to_string(kernel) + " must have " +
                            std::to_string(nsp) + " values for input shape " +
                            shape_to_string(x_shape));
  std::vector<int64_t>& strides = attrs.strides;
  std::vector<int64_t>& dilations = attrs.dilations;
  std::vector<int64_t>& pads = attrs.pads;
  const std::string& auto_pad = attrs.auto_pad;
  if (strides.empty()) strides.assign(nsp, 1);
  if (dilations.empty()) dilations.assign(nsp, 1);
  if (pads.empty()) pads.assign(2 * nsp, 0);
  if (static_cast<int>(strides.size()) != nsp)
    return invalid_argument("strides " + ints_to_string(strides) + " must have " +
                            std::to_string(nsp) + " values");
  if (static_cast<int>(dilations.size()) != nsp)
    return invalid_argument("dilations " + ints_to_string(dilations) + " must have " +
                            std::to_string(nsp) + " values");
  if (static_cast<int>(pads.size()) != 2 * nsp)
    return invalid_argument("pads " + ints_to_string(pads) + " must have " +
                            std::to_string(2 * nsp) + " values");
  KILN_RETURN_IF_ERROR(check_auto_pad(auto_pad));
  for (int i = 0; i < nsp; ++i) {
    KILN_RETURN_IF_ERROR(check_window_axis(i, nsp, kernel, strides, dilations, pads));
    const int a = geom_axis(g, i);
    const std::string ax = " along spatial axis " + std::to_string(i);
    g.in[a] = x_shape[2 + i];
    g.k[a] = kernel[i];
    g.s[a] = strides[i];
    g.d[a] = dilations[i];
    const int64_t in = g.in[a], s = g.s[a];
    const int64_t eff = (g.k[a] - 1) * g.d[a] + 1;
    int64_t out = 0, pb = 0, pe = 0;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out = ceil_div(in, s);
      int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in);
      pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    } else if (auto_pad == "VALID") {
      if (in < eff)
        return invalid_argument("kernel (effective size " + std::to_string(eff) +
                                ") is larger than the input (" + std::to_string(in) + ")" + ax +
                                " with auto_pad VALID");
      out = (in - eff) / s + 1;
    } else {
      pb = pads[i];
      pe = pads[i + nsp];
      const int64_t padded = in + pb + pe;
      if (padded < eff)
        return invalid_argument("kernel (effective size " + std::to_string(eff) +
                                ") is larger than the padded input (" + std::to_string(padded) +
                                ")" + ax);
      if (opt.pool && opt.ceil_mode) {
        out = ceil_div(padded - eff, s) + 1;
        // The last window must start inside the input or the leading padding.
        if ((out - 1) * s >= in + pb) --out;
      } else {
        out = (padded - eff) / s + 1;
      }
      if (opt.pool && (pb >= eff || pe >= eff))
        return invalid_argument("pads " + ints_to_string(pads) +
                                " must be smaller than the window (" + std::to_string(eff) + ")" +
                                ax);
    }
    g.pb[a] = pb;
    g.pe[a] = pe;
    g.out[a] = out;
  }
  return g;
}

Status make_geom(const OpContext& ctx, const Shape& x_shape, const std::vector<int64_t>& kernel,
                 const GeomOptions& opt, Geom* g) {
  Expected<Geom> r = compute_geom(x_shape, kernel, read_window_attrs(ctx), opt);
  if (!r) return name_node(ctx, r.status());
  *g = *r;
  return Status::ok();
}

}  // namespace nn

void register_nn_kernels(KernelRegistry& r) {
  r.add("", "Conv", nn::conv_kernel);
  r.add("", "ConvTranspose", nn::conv_transpose_kernel);
  r.add("", "ConvInteger", nn::conv_integer_kernel, 10);
  r.add("", "QLinearConv", nn::qlinear_conv_kernel, 10);
  r.add("", "MaxPool", nn::max_pool_kernel);
  r.add("", "AveragePool", nn::average_pool_kernel);
  r.add("", "LpPool", nn::lp_pool_kernel, 2);
  r.add("", "GlobalAveragePool", nn::global_average_pool_kernel);
  r.add("", "GlobalMaxPool", nn::global_max_pool_kernel);
  r.add("", "GlobalLpPool", nn::global_lp_pool_kernel, 2);
  r.add("", "BatchNormalization", nn::batch_normalization_kernel, 6);
  r.add("", "LRN", nn::lrn_kernel);
  r.add("", "Resize", nn::resize_kernel, 10);
  r.add("", "Upsample", nn::upsample_kernel, 7, 9);
}

}  // namespace kiln::cpu
