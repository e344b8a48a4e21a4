// Backend-neutral parameter and shape logic of the nn ops shared by the OpenCL and Vulkan
// backends (see nn_params.h).
#include "runtime/device/nn_params.h"

#include <algorithm>
#include <climits>
#include <utility>

namespace kiln::device {

using cpu::nn::Geom;
using cpu::nn::kMaxSpatial;

const ir::Attribute* NodeAttrs::typed(const char* name, ir::AttrType t) {
  const ir::Attribute* a = n.attr(name);
  if (a && a->type != t) {
    if (bad.empty()) bad = std::string("attribute ") + name + " has the wrong type";
    return nullptr;
  }
  return a;
}

int64_t NodeAttrs::i(const char* name, int64_t def) {
  const ir::Attribute* a = typed(name, ir::AttrType::kInt);
  return a ? a->i : def;
}

float NodeAttrs::f(const char* name, float def) {
  const ir::Attribute* a = n.attr(name);
  if (a && a->type == ir::AttrType::kInt) return static_cast<float>(a->i);
  a = typed(name, ir::AttrType::kFloat);
  return a ? a->f : def;
}

std::string NodeAttrs::s(const char* name, const std::string& def) {
  const ir::Attribute* a = typed(name, ir::AttrType::kString);
  return a ? a->s : def;
}

std::vector<int64_t> NodeAttrs::ints(const char* name, const std::vector<int64_t>& def) {
  const ir::Attribute* a = typed(name, ir::AttrType::kInts);
  return a ? a->ints : def;
}

std::vector<float> NodeAttrs::floats(const char* name) {
  const ir::Attribute* a = typed(name, ir::AttrType::kFloats);
  return a ? a->floats : std::vector<float>{};
}

Status check_output_size(const Shape& s) {
  if (numel_of(s) >= INT_MAX) return unsupported("output of 2^31 or more elements");
  return Status::ok();
}

Status make_geom(NodeAttrs& at, const Shape& x, const std::vector<int64_t>& kernel, bool pool,
                 bool ceil_mode, const DeviceTarget& target, Geom* g) {
  cpu::nn::WindowAttrs wa;
  wa.strides = at.ints("strides", {});
  wa.dilations = at.ints("dilations", {});
  wa.pads = at.ints("pads", {});
  wa.auto_pad = at.s("auto_pad", "NOTSET");
  KILN_RETURN_IF_ERROR(at.check());
  cpu::nn::GeomOptions opt;
  opt.pool = pool;
  opt.ceil_mode = ceil_mode;
  KILN_ASSIGN_OR_RETURN(*g, cpu::nn::compute_geom(x, kernel, std::move(wa), opt));
  const std::string for_target = " too large for the " + std::string(target.program);
  for (int a = 0; a < kMaxSpatial; ++a) {
    const int64_t in = g->in[a], s = g->s[a], out = g->out[a], pb = g->pb[a], pe = g->pe[a];
    const int64_t eff = (g->k[a] - 1) * g->d[a] + 1;
    if (g->k[a] > kGeomLimit || s > kGeomLimit || g->d[a] > kGeomLimit || pb > kGeomLimit ||
        pe > kGeomLimit || eff > kGeomLimit)
      return unsupported("kernel, strides, dilations or pads" + for_target);
    // Every index the kernels form stays well inside int32.
    if (std::max<int64_t>(out - 1, 0) * s + eff + in + pb + pe >= kGeomLimit)
      return unsupported("spatial geometry" + for_target);
  }
  if (target.limit_plane_sizes &&
      (g->k_size() >= kGeomLimit || g->in_size() >= INT_MAX || g->out_size() >= INT_MAX))
    return unsupported("window or spatial size" + for_target);
  return Status::ok();
}

Expected<ConvShape> conv_shape(const ir::Node& node, const std::vector<InputInfo>& in,
                               const DeviceTarget& target, BiasDtypeCheck bias_dtype) {
  NodeAttrs at{node, {}};
  const Shape& x = in[0].desc.shape;
  const Shape& w = in[1].desc.shape;
  KILN_RETURN_IF_ERROR(cpu::nn::check_spatial_rank(x, "input X"));
  if (w.size() != x.size()) return invalid_argument("W must have the rank of X");
  ConvShape p;
  p.group = at.i("group", 1);
  KILN_RETURN_IF_ERROR(at.check());
  if (p.group <= 0) return invalid_argument("group must be positive");
  p.n = x[0];
  p.c = x[1];
  p.m = w[0];
  if (p.c % p.group != 0 || p.m % p.group != 0)
    return invalid_argument("channels not divisible by group");
  p.cg = p.c / p.group;
  p.mg = p.m / p.group;
  if (w[1] != p.cg) return invalid_argument("W dim 1 must be C/group");
  std::vector<int64_t> kernel(w.begin() + 2, w.end());
  if (at.has("kernel_shape")) {
    std::vector<int64_t> ks = at.ints("kernel_shape", {});
    KILN_RETURN_IF_ERROR(at.check());
    if (ks != kernel) return invalid_argument("kernel_shape does not match W");
  }
  KILN_RETURN_IF_ERROR(make_geom(at, x, kernel, false, false, target, &p.g));
  if (in.size() > 2 && in[2].present) {
    KILN_RETURN_IF_ERROR(bias_dtype(in[2], in[0].desc.dtype));
    if (in[2].desc.shape != Shape{p.m}) return invalid_argument("bias must be 1-D of M values");
    p.bias = true;
  }
  p.out = cpu::nn::out_shape_of(p.g, p.n, p.m);
  KILN_RETURN_IF_ERROR(check_output_size(p.out));
  return p;
}

Expected<PoolShape> pool_shape(const ir::Node& node, const std::vector<InputInfo>& in,
                               const DeviceTarget& target) {
  const std::string on = " on " + std::string(target.name);
  if (in.empty() || !in[0].present) return invalid_argument("needs X");
  if (!is_f32(in[0])) return unsupported("only float32 pools" + on);
  const bool is_max = node.op_type() == "MaxPool";
  if (is_max && node.outputs().size() > 1 && node.outputs()[1])
    return unsupported("MaxPool's Indices output is not computed" + on);
  NodeAttrs at{node, {}};
  const Shape& x = in[0].desc.shape;
  KILN_RETURN_IF_ERROR(cpu::nn::check_spatial_rank(x, "input X"));
  if (!at.has("kernel_shape")) return invalid_argument("kernel_shape is required");
  std::vector<int64_t> kernel = at.ints("kernel_shape", {});
  const int64_t ceil_mode = at.i("ceil_mode", 0);
  PoolShape p;
  if (is_max) {
    const int64_t storage_order = at.i("storage_order", 0);
    if (storage_order != 0 && storage_order != 1)
      return invalid_argument("storage_order must be 0 or 1");
    p.mode = 0;
  } else {
    const int64_t include_pad = at.i("count_include_pad", 0);
    if (include_pad != 0 && include_pad != 1)
      return invalid_argument("count_include_pad must be 0 or 1");
    p.mode = include_pad ? 2 : 1;
  }
  KILN_RETURN_IF_ERROR(at.check());
  if (ceil_mode != 0 && ceil_mode != 1) return invalid_argument("ceil_mode must be 0 or 1");
  KILN_RETURN_IF_ERROR(make_geom(at, x, kernel, true, ceil_mode == 1, target, &p.g));
  p.out = cpu::nn::out_shape_of(p.g, x[0], x[1]);
  KILN_RETURN_IF_ERROR(check_output_size(p.out));
  return p;
}

Expected<float> batch_norm_epsilon(const ir::Node& node, const std::vector<InputInfo>& in,
                                   const DeviceTarget& target) {
  const std::string on = " on " + std::string(target.name);
  if (in.size() < 5) return invalid_argument("needs X, scale, B, input_mean and input_var");
  for (size_t i = 0; i < 5; ++i)
    if (!in[i].present) return invalid_argument("an input is missing");
  for (size_t i = 0; i < 5; ++i)
    if (!is_f32(in[i])) return unsupported("only float32 BatchNormalization" + on);
  const Shape& x = in[0].desc.shape;
  if (x.size() < 2) return invalid_argument("input X must have rank >= 2");
  NodeAttrs at{node, {}};
  const int opset = node.opset();
  if (opset >= 14 && at.i("training_mode", 0) != 0) return unsupported("training_mode=1");
  if (opset <= 6 && at.i("is_test", 0) == 0) return unsupported("is_test=0 (training mode)");
  for (size_t i = 1; i < node.outputs().size(); ++i)
    if (node.outputs()[i]) return unsupported("training-mode statistics outputs");
  const float eps = at.f("epsilon", 1e-5f);
  if (opset <= 8) (void)at.i("spatial", 1);  // spatial=0 is refused by the shape check below
  KILN_RETURN_IF_ERROR(at.check());
  for (size_t i = 1; i < 5; ++i)
    if (in[i].desc.shape != Shape{x[1]})
      return unsupported("only per-channel BatchNormalization parameters" + on);
  KILN_RETURN_IF_ERROR(check_output_size(x));
  return eps;
}

namespace {

// A present, non-empty host input i, or nullptr; `missing_host` is set when the value exists
// only on the device.
const Tensor* host_input(const std::vector<InputInfo>& in, size_t i, bool* missing_host) {
  if (i >= in.size() || !in[i].present || in[i].desc.numel() == 0) return nullptr;
  if (!in[i].host_value) {
    *missing_host = true;
    return nullptr;
  }
  return in[i].host_value;
}

}  // namespace

Expected<cpu::nn::ResizeParams> resize_node_params(const ir::Node& node,
                                                   const std::vector<InputInfo>& in) {
  NodeAttrs at{node, {}};
  const int opset = node.opset();
  cpu::nn::ResizeAttrs ra;
  ra.mode = at.s("mode", "nearest");
  if (opset >= 11) {
    ra.coord = at.s("coordinate_transformation_mode", "half_pixel");
    ra.nearest = at.s("nearest_mode", "round_prefer_floor");
    ra.cubic_a = at.f("cubic_coeff_a", -0.75f);
    ra.exclude_outside = at.i("exclude_outside", 0);
    ra.extrapolation = at.f("extrapolation_value", 0.0f);
  }
  if (opset >= 18) {
    ra.antialias = at.i("antialias", 0);
    ra.policy = at.s("keep_aspect_ratio_policy", "stretch");
    ra.axes = at.ints("axes", {});
  }
  KILN_RETURN_IF_ERROR(at.check());
  const Shape& x = in[0].desc.shape;
  bool missing_host = false;
  if (opset < 11) {
    const Tensor* s = host_input(in, 1, &missing_host);
    if (missing_host) return unsupported("scales must be known on the host");
    return cpu::nn::resize_params(ra, opset, x, nullptr, s, nullptr);
  }
  const Tensor* scales = host_input(in, 2, &missing_host);
  const Tensor* sizes = host_input(in, 3, &missing_host);
  const Tensor* roi = host_input(in, 1, &missing_host);
  if (missing_host) return unsupported("roi, scales and sizes must be known on the host");
  return cpu::nn::resize_params(ra, opset, x, roi, scales, sizes);
}

Expected<cpu::nn::ResizeParams> upsample_node_params(const ir::Node& node,
                                                     const std::vector<InputInfo>& in) {
  NodeAttrs at{node, {}};
  const std::string mode = at.s("mode", "nearest");
  const Tensor* scales_input = nullptr;
  std::vector<float> scales_attr;
  const bool has_scales_attr = node.opset() < 9 && at.has("scales");
  if (node.opset() >= 9) {
    bool missing_host = false;
    scales_input = host_input(in, 1, &missing_host);
    if (missing_host) return unsupported("scales must be known on the host");
  } else if (has_scales_attr) {
    scales_attr = at.floats("scales");
  }
  KILN_RETURN_IF_ERROR(at.check());
  return cpu::nn::upsample_params(mode, node.opset(), in[0].desc.shape, scales_input,
                                  has_scales_attr ? &scales_attr : nullptr);
}

Expected<cpu::nn::ResizeParams> resample_params(const ir::Node& node,
                                                const std::vector<InputInfo>& in,
                                                const DeviceTarget& target) {
  if (in.empty() || !in[0].present) return invalid_argument("needs X");
  if (!is_f32(in[0])) return unsupported("only float32 Resize on " + std::string(target.name));
  const Shape& x = in[0].desc.shape;
  if (x.empty()) return invalid_argument("input X must have rank >= 1");
  if (x.size() > 8) return unsupported("rank above 8");
  cpu::nn::ResizeParams p;
  if (node.op_type() == "Upsample") {
    KILN_ASSIGN_OR_RETURN(p, upsample_node_params(node, in));
  } else {
    KILN_ASSIGN_OR_RETURN(p, resize_node_params(node, in));
  }
  KILN_RETURN_IF_ERROR(cpu::nn::check_resize_source(x, p.out));
  if (p.out.size() != x.size()) return internal_error("Resize output rank differs from X");
  int64_t out_numel = 1;
  for (int64_t d : p.out) {
    if (d >= INT_MAX) return unsupported("output of 2^31 or more elements");
    out_numel *= d;
    if (out_numel >= INT_MAX) return unsupported("output of 2^31 or more elements");
  }
  return p;
}

}  // namespace kiln::device
