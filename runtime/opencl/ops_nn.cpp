// OpenCL nn ops (kernels/conv.cl): Conv (groups, depthwise, strides, dilations, pads, auto_pad,
// bias), MaxPool / AveragePool, GlobalAveragePool / GlobalMaxPool, BatchNormalization
// (inference) and Resize / Upsample, float32 over 1 to 3 spatial axes. Output shapes and window
// geometry are computed exactly as the CPU reference does (runtime/cpu/ops/nn*.cpp); anything
// the kernels do not cover (other dtypes, MaxPool's Indices, training mode) is refused in
// supports() so the node runs on the CPU, which also reports invalid attributes.
#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <set>

#include "runtime/cpu/ops/common.h"
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

namespace {

constexpr int kMaxSpatial = 3;
// Geometry values (and their sums) stay below this so the kernels' int arithmetic never
// overflows.
constexpr int64_t kGeomLimit = int64_t{1} << 30;

// --- attributes ------------------------------------------------------------------------------

// Reads attributes with the CPU's typing rules; a present attribute of the wrong type is
// remembered in `bad` (the node then goes to the CPU, which reports it).
struct Attrs {
  const ir::Node& n;
  std::string bad;

  const ir::Attribute* typed(const char* name, ir::AttrType t) {
    const ir::Attribute* a = n.attr(name);
    if (a && a->type != t) {
      if (bad.empty()) bad = std::string("attribute ") + name + " has the wrong type";
      return nullptr;
    }
    return a;
  }
  bool has(const char* name) const { return n.attr(name) != nullptr; }
  int64_t i(const char* name, int64_t def) {
    const ir::Attribute* a = typed(name, ir::AttrType::kInt);
    return a ? a->i : def;
  }
  float f(const char* name, float def) {
    const ir::Attribute* a = n.attr(name);
    if (a && a->type == ir::AttrType::kInt) return static_cast<float>(a->i);
    a = typed(name, ir::AttrType::kFloat);
    return a ? a->f : def;
  }
  std::string s(const char* name, const std::string& def) {
    const ir::Attribute* a = typed(name, ir::AttrType::kString);
    return a ? a->s : def;
  }
  std::vector<int64_t> ints(const char* name, const std::vector<int64_t>& def) {
    const ir::Attribute* a = typed(name, ir::AttrType::kInts);
    return a ? a->ints : def;
  }
  std::vector<float> floats(const char* name) {
    const ir::Attribute* a = typed(name, ir::AttrType::kFloats);
    return a ? a->floats : std::vector<float>{};
  }
  Status check() const { return bad.empty() ? Status::ok() : unsupported(bad); }
};

bool is_f32(const InputInfo& in) {
  return in.present && in.desc.dtype == DType::kFloat32;
}

cl_int4 to_int4(const std::array<int64_t, kMaxSpatial>& v) {
  cl_int4 r{};
  for (int i = 0; i < kMaxSpatial; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

cl_int8 to_int8(const std::vector<int64_t>& v) {
  cl_int8 r{};
  for (size_t i = 0; i < v.size() && i < 8; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

// A work-group size for n work-items: 64, or the smallest power of two holding n.
size_t pick_local(int64_t n) {
  size_t l = 1;
  while (l < 64 && static_cast<int64_t>(l) < n) l <<= 1;
  return l;
}

// --- spatial geometry (mirrors runtime/cpu/ops/nn.cpp make_geom) -----------------------------

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
int64_t ceil_div(int64_t a, int64_t b) {
  return -floor_div(-a, b);
}

struct Geom {
  int nsp = 0;
  std::array<int64_t, kMaxSpatial> in{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1};
  std::array<int64_t, kMaxSpatial> pb{0, 0, 0}, pe{0, 0, 0}, out{1, 1, 1};
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
};

Status check_spatial_rank(const Shape& x) {
  if (x.size() < 3) return invalid_argument("input X must have rank >= 3");
  if (x.size() > 2 + kMaxSpatial) return unsupported("more than 3 spatial axes");
  return Status::ok();
}

Status make_geom(Attrs& at, const Shape& x, const std::vector<int64_t>& kernel, bool pool,
                 bool ceil_mode, Geom* g) {
  KILN_RETURN_IF_ERROR(check_spatial_rank(x));
  const int nsp = static_cast<int>(x.size()) - 2;
  *g = Geom();
  g->nsp = nsp;
  if (static_cast<int>(kernel.size()) != nsp)
    return invalid_argument("kernel_shape has the wrong number of values");
  std::vector<int64_t> strides = at.ints("strides", std::vector<int64_t>(nsp, 1));
  std::vector<int64_t> dilations = at.ints("dilations", std::vector<int64_t>(nsp, 1));
  std::vector<int64_t> pads = at.ints("pads", std::vector<int64_t>(2 * nsp, 0));
  std::string auto_pad = at.s("auto_pad", "NOTSET");
  KILN_RETURN_IF_ERROR(at.check());
  if (strides.empty()) strides.assign(nsp, 1);
  if (dilations.empty()) dilations.assign(nsp, 1);
  if (pads.empty()) pads.assign(2 * nsp, 0);
  if (static_cast<int>(strides.size()) != nsp || static_cast<int>(dilations.size()) != nsp ||
      static_cast<int>(pads.size()) != 2 * nsp)
    return invalid_argument("strides, dilations or pads have the wrong number of values");
  if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" &&
      auto_pad != "VALID")
    return invalid_argument("auto_pad '" + auto_pad + "' is not valid");
  for (int i = 0; i < nsp; ++i) {
    const int a = kMaxSpatial - nsp + i;
    if (kernel[i] <= 0 || kernel[i] > kGeomLimit || strides[i] <= 0 || strides[i] > kGeomLimit ||
        dilations[i] <= 0 || dilations[i] > kGeomLimit || pads[i] < 0 || pads[i + nsp] < 0 ||
        pads[i] > kGeomLimit || pads[i + nsp] > kGeomLimit)
      return invalid_argument("kernel, strides, dilations or pads out of range");
    g->in[a] = x[2 + i];
    g->k[a] = kernel[i];
    g->s[a] = strides[i];
    g->d[a] = dilations[i];
    const int64_t in = g->in[a], s = g->s[a];
    const int64_t eff = (g->k[a] - 1) * g->d[a] + 1;
    if (eff > kGeomLimit) return unsupported("effective kernel too large for the OpenCL kernel");
    int64_t out = 0, pb = 0, pe = 0;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out = ceil_div(in, s);
      int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in);
      pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    } else if (auto_pad == "VALID") {
      if (in < eff) return invalid_argument("kernel larger than the input with auto_pad VALID");
      out = (in - eff) / s + 1;
    } else {
      pb = pads[i];
      pe = pads[i + nsp];
      const int64_t padded = in + pb + pe;
      if (padded < eff) return invalid_argument("kernel larger than the padded input");
      if (pool && ceil_mode) {
        out = ceil_div(padded - eff, s) + 1;
        if ((out - 1) * s >= in + pb) --out;
      } else {
        out = (padded - eff) / s + 1;
      }
      if (pool && (pb >= eff || pe >= eff))
        return invalid_argument("pads must be smaller than the window");
    }
    g->pb[a] = pb;
    g->pe[a] = pe;
    g->out[a] = out;
    // Every index the kernels form stays well inside int32.
    if (std::max<int64_t>(out - 1, 0) * s + eff + in + pb + pe >= kGeomLimit)
      return unsupported("spatial geometry too large for the OpenCL kernel");
  }
  return Status::ok();
}

Shape out_shape_of(const Geom& g, int64_t n, int64_t channels) {
  Shape s{n, channels};
  for (int i = 0; i < g.nsp; ++i) s.push_back(g.out[kMaxSpatial - g.nsp + i]);
  return s;
}

Status check_output_size(const Shape& s) {
  if (numel_of(s) >= INT_MAX) return unsupported("output of 2^31 or more elements");
  return Status::ok();
}

Support to_support(const Status& st) {
  return st.is_ok() ? Support::yes() : Support::no(st.message());
}

// --- Conv ------------------------------------------------------------------------------------

struct ConvPlan {
  Geom g;
  int64_t n = 0, c = 0, m = 0, group = 1, cg = 0, mg = 0;
  bool bias = false;
  Shape out;
};

Expected<ConvPlan> conv_plan(const ir::Node& node, const std::vector<InputInfo>& in) {
  if (in.size() < 2 || !in[0].present || !in[1].present) return invalid_argument("needs X and W");
  if (!is_f32(in[0]) || !is_f32(in[1])) return unsupported("only float32 Conv on OpenCL");
  Attrs at{node, {}};
  const Shape& x = in[0].desc.shape;
  const Shape& w = in[1].desc.shape;
  KILN_RETURN_IF_ERROR(check_spatial_rank(x));
  if (w.size() != x.size()) return invalid_argument("W must have the rank of X");
  ConvPlan p;
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
  KILN_RETURN_IF_ERROR(make_geom(at, x, kernel, false, false, &p.g));
  if (in.size() > 2 && in[2].present) {
    if (!is_f32(in[2])) return invalid_argument("bias must be float32");
    if (in[2].desc.shape != Shape{p.m}) return invalid_argument("bias must be 1-D of M values");
    p.bias = true;
  }
  p.out = out_shape_of(p.g, p.n, p.m);
  KILN_RETURN_IF_ERROR(check_output_size(p.out));
  return p;
}

class ConvKernel : public ClLaunchKernel {
 public:
  ConvKernel(ClContext& ctx, cl::Kernel k, const char* name, const ConvPlan& p, int tm, int tp)
      : ClLaunchKernel(std::move(k), name,
                       p.bias ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 1, 0}, 1, ctx) {
    outputs_ = {TensorDesc{DType::kFloat32, p.out}};
    const Geom& g = p.g;
    const int64_t rows = g.out[0] * g.out[1];
    const int64_t pblocks = (g.out[2] + tp - 1) / tp;
    const int64_t mblocks = (p.mg + tm - 1) / tm;
    cl_uint a = 0;
    set_fixed(a++, static_cast<cl_int>(p.c));
    set_fixed(a++, static_cast<cl_int>(p.m));
    set_fixed(a++, static_cast<cl_int>(p.cg));
    set_fixed(a++, static_cast<cl_int>(p.mg));
    set_fixed(a++, static_cast<cl_int>(p.group));
    set_fixed(a++, static_cast<cl_int>(mblocks));
    set_fixed(a++, static_cast<cl_int>(pblocks));
    set_fixed(a++, static_cast<cl_int>(p.bias ? 1 : 0));
    set_fixed(a++, to_int4(g.in));
    set_fixed(a++, to_int4(g.k));
    set_fixed(a++, to_int4(g.s));
    set_fixed(a++, to_int4(g.d));
    set_fixed(a++, to_int4(g.pb));
    set_fixed(a++, to_int4(g.out));
    const int64_t n0 = rows * pblocks;
    const size_t l0 = pick_local(n0);
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(n0, 1)), l0),
                          static_cast<size_t>(std::max<int64_t>(p.group * mblocks, 1)),
                          static_cast<size_t>(std::max<int64_t>(p.n, 1)));
    local_ = cl::NDRange(l0, 1, 1);
    empty_ = numel_of(p.out) == 0;
  }
  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    return ClLaunchKernel::enqueue(in, out);
  }

 private:
  bool empty_ = false;
};

Support conv_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  auto p = conv_plan(n, in);
  return p ? Support::yes() : Support::no(p.status().message());
}

Expected<std::unique_ptr<DeviceKernel>> conv_prepare(ClContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(ConvPlan p, conv_plan(n, in));
  // Few output channels per group (depthwise): one channel x 8 pixels per work-item.
  const bool narrow = p.mg < 4;
  const char* name = narrow ? "conv_m1p8" : "conv_m4p4";
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("conv", "", name));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<ConvKernel>(ctx, std::move(k), name, p, narrow ? 1 : 4, narrow ? 8 : 4));
}

// --- MaxPool / AveragePool -------------------------------------------------------------------

struct PoolPlan {
  Geom g;
  int mode = 0;  // 0 max, 1 average, 2 average counting pads
  Shape out;
};

Expected<PoolPlan> pool_plan(const ir::Node& node, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return invalid_argument("needs X");
  if (!is_f32(in[0])) return unsupported("only float32 pools on OpenCL");
  const bool is_max = node.op_type() == "MaxPool";
  if (is_max && node.outputs().size() > 1 && node.outputs()[1])
    return unsupported("MaxPool's Indices output is not computed on OpenCL");
  Attrs at{node, {}};
  const Shape& x = in[0].desc.shape;
  KILN_RETURN_IF_ERROR(check_spatial_rank(x));
  if (!at.has("kernel_shape")) return invalid_argument("kernel_shape is required");
  std::vector<int64_t> kernel = at.ints("kernel_shape", {});
  const int64_t ceil_mode = at.i("ceil_mode", 0);
  PoolPlan p;
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
  KILN_RETURN_IF_ERROR(make_geom(at, x, kernel, true, ceil_mode == 1, &p.g));
  p.out = out_shape_of(p.g, x[0], x[1]);
  KILN_RETURN_IF_ERROR(check_output_size(p.out));
  return p;
}

class PoolKernel : public ClLaunchKernel {
 public:
  PoolKernel(ClContext& ctx, cl::Kernel k, const PoolPlan& p)
      : ClLaunchKernel(std::move(k), p.mode == 0 ? "max_pool" : "average_pool", {0}, 1, ctx) {
    outputs_ = {TensorDesc{DType::kFloat32, p.out}};
    const int64_t total = numel_of(p.out);
    const Geom& g = p.g;
    cl_uint a = 0;
    set_fixed(a++, static_cast<cl_int>(total));
    set_fixed(a++, static_cast<cl_int>(p.mode));
    set_fixed(a++, to_int4(g.in));
    set_fixed(a++, to_int4(g.k));
    set_fixed(a++, to_int4(g.s));
    set_fixed(a++, to_int4(g.d));
    set_fixed(a++, to_int4(g.pb));
    set_fixed(a++, to_int4(g.pe));
    set_fixed(a++, to_int4(g.out));
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(total, 1)), 64));
    local_ = cl::NDRange(64);
    empty_ = total == 0;
  }
  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    return ClLaunchKernel::enqueue(in, out);
  }

 private:
  bool empty_ = false;
};

Support pool_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  auto p = pool_plan(n, in);
  return p ? Support::yes() : Support::no(p.status().message());
}

Expected<std::unique_ptr<DeviceKernel>> pool_prepare(ClContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(PoolPlan p, pool_plan(n, in));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("conv", "", "pool"));
  return std::unique_ptr<DeviceKernel>(std::make_unique<PoolKernel>(ctx, std::move(k), p));
}

// --- GlobalAveragePool / GlobalMaxPool -------------------------------------------------------

Status global_pool_check(const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return invalid_argument("needs X");
  if (!is_f32(in[0])) return unsupported("only float32 global pools on OpenCL");
  if (in[0].desc.shape.size() < 3) return invalid_argument("input X must have rank >= 3");
  return Status::ok();
}

class GlobalPoolKernel : public ClLaunchKernel {
 public:
  GlobalPoolKernel(ClContext& ctx, cl::Kernel k, const Shape& x, bool is_max)
      : ClLaunchKernel(std::move(k), is_max ? "global_max_pool" : "global_average_pool", {0}, 1,
                       ctx) {
    Shape out = x;
    for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
    outputs_ = {TensorDesc{DType::kFloat32, out}};
    const int64_t planes = x[0] * x[1];
    const int64_t size = planes > 0 ? numel_of(x) / planes : 0;
    set_fixed(0, static_cast<cl_int>(planes));
    set_fixed(1, static_cast<cl_int>(size));
    set_fixed(2, static_cast<cl_int>(is_max ? 1 : 0));
    const size_t l = pick_local(planes);
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(planes, 1)), l));
    local_ = cl::NDRange(l);
    empty_ = planes == 0;
  }
  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    return ClLaunchKernel::enqueue(in, out);
  }

 private:
  bool empty_ = false;
};

Support global_pool_supports(const ir::Node&, const std::vector<InputInfo>& in) {
  return to_support(global_pool_check(in));
}

Expected<std::unique_ptr<DeviceKernel>> global_pool_prepare(ClContext& ctx, const ir::Node& n,
                                                            const std::vector<InputInfo>& in) {
  KILN_RETURN_IF_ERROR(global_pool_check(in));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("conv", "", "global_pool"));
  return std::unique_ptr<DeviceKernel>(std::make_unique<GlobalPoolKernel>(
      ctx, std::move(k), in[0].desc.shape, n.op_type() == "GlobalMaxPool"));
}

// --- BatchNormalization ----------------------------------------------------------------------

Expected<float> batch_norm_check(const ir::Node& node, const std::vector<InputInfo>& in) {
  if (in.size() < 5) return invalid_argument("needs X, scale, B, input_mean and input_var");
  for (size_t i = 0; i < 5; ++i)
    if (!in[i].present) return invalid_argument("an input is missing");
  for (size_t i = 0; i < 5; ++i)
    if (!is_f32(in[i])) return unsupported("only float32 BatchNormalization on OpenCL");
  const Shape& x = in[0].desc.shape;
  if (x.size() < 2) return invalid_argument("input X must have rank >= 2");
  Attrs at{node, {}};
  const int opset = node.opset();
  if (opset >= 14 && at.i("training_mode", 0) != 0) return unsupported("training_mode=1");
  if (opset <= 6 && at.i("is_test", 0) == 0) return unsupported("is_test=0 (training mode)");
  for (size_t i = 1; i < node.outputs().size(); ++i)
    if (node.outputs()[i]) return unsupported("training-mode statistics outputs");
  const float eps = at.f("epsilon", 1e-5f);
  int64_t spatial = 1;
  if (opset <= 8) spatial = at.i("spatial", 1);
  KILN_RETURN_IF_ERROR(at.check());
  (void)spatial;  // per-element parameters (spatial=0) are refused by the shape check below
  for (size_t i = 1; i < 5; ++i)
    if (in[i].desc.shape != Shape{x[1]})
      return unsupported("only per-channel BatchNormalization parameters on OpenCL");
  KILN_RETURN_IF_ERROR(check_output_size(x));
  return eps;
}

class BatchNormKernel : public ClLaunchKernel {
 public:
  BatchNormKernel(ClContext& ctx, cl::Kernel k, const Shape& x, float eps)
      : ClLaunchKernel(std::move(k), "batch_norm", {0, 1, 2, 3, 4}, 1, ctx) {
    outputs_ = {TensorDesc{DType::kFloat32, x}};
    const int64_t total = numel_of(x);
    const int64_t c = x[1];
    const int64_t size = c > 0 && x[0] > 0 ? total / (x[0] * c) : 0;
    set_fixed(0, static_cast<cl_int>(total));
    set_fixed(1, static_cast<cl_int>(c));
    set_fixed(2, static_cast<cl_int>(std::max<int64_t>(size, 1)));
    set_fixed(3, eps);
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(total, 1)), 64));
    local_ = cl::NDRange(64);
    empty_ = total == 0;
  }
  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    return ClLaunchKernel::enqueue(in, out);
  }

 private:
  bool empty_ = false;
};

Support batch_norm_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  auto e = batch_norm_check(n, in);
  return e ? Support::yes() : Support::no(e.status().message());
}

Expected<std::unique_ptr<DeviceKernel>> batch_norm_prepare(ClContext& ctx, const ir::Node& n,
                                                           const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(float eps, batch_norm_check(n, in));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("conv", "", "batch_norm"));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<BatchNormKernel>(ctx, std::move(k), in[0].desc.shape, eps));
}

// --- Resize / Upsample (mirrors runtime/cpu/ops/nn_resize.cpp) -------------------------------

enum class Mode { kNearest, kLinear, kCubic };
enum class Coord {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize
};
enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

struct ResizeParams {
  Mode mode = Mode::kNearest;
  Coord coord = Coord::kAsymmetric;
  Nearest nearest = Nearest::kSimple;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation = 0;
  std::vector<double> scales;
  std::vector<double> roi;
  Shape out;
};

double original_coord(const ResizeParams& p, int axis, int64_t x, int64_t in, int64_t out) {
  const double scale = p.scales[axis];
  const double xd = static_cast<double>(x);
  const double len = scale * static_cast<double>(in);
  switch (p.coord) {
    case Coord::kHalfPixel:
      return (xd + 0.5) / scale - 0.5;
    case Coord::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(out) / len;
      const double center = static_cast<double>(in) / 2;
      return center * (1 - adjustment) + (xd + 0.5) / scale - 0.5;
    }
    case Coord::kPytorchHalfPixel:
      return out > 1 ? (xd + 0.5) / scale - 0.5 : 0.0;
    case Coord::kAlignCorners:
      return len == 1 ? 0.0 : xd * static_cast<double>(in - 1) / (len - 1);
    case Coord::kAsymmetric:
      return xd / scale;
    case Coord::kTfHalfPixelForNn:
      return (xd + 0.5) / scale;
    case Coord::kTfCropAndResize: {
      const int rank = static_cast<int>(p.scales.size());
      const double s = p.roi[axis], e = p.roi[rank + axis];
      const double span = static_cast<double>(in - 1);
      if (len > 1) return s * span + xd * (e - s) * span / (len - 1);
      return 0.5 * (s + e) * span;
    }
  }
  return 0;
}

int64_t nearest_index(const ResizeParams& p, int axis, double x) {
  const double fl = std::floor(x);
  const double frac = x - fl;
  double r = fl;
  switch (p.nearest) {
    case Nearest::kRoundPreferFloor:
      r = frac <= 0.5 ? fl : fl + 1;
      break;
    case Nearest::kRoundPreferCeil:
      r = frac < 0.5 ? fl : fl + 1;
      break;
    case Nearest::kFloor:
      r = fl;
      break;
    case Nearest::kCeil:
      r = std::ceil(x);
      break;
    case Nearest::kSimple:
      r = p.scales[axis] < 1 ? std::ceil(x) : std::trunc(x);
      break;
  }
  if (!(r >= -1e18 && r <= 1e18)) return 0;
  return static_cast<int64_t>(r);
}

double cubic_weight(double x, double a) {
  x = std::fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

// Taps per output coordinate (as the CPU builds them), appended to the shared tables:
// begin (absolute tap index per coordinate, plus one end entry), idx (-1 = outside), w.
struct TapTables {
  std::vector<cl_int> begin, idx;
  std::vector<float> w;
};

// The number of taps one coordinate may get (linear 2, cubic 4, more with antialias).
int64_t taps_per_coord(const ResizeParams& p, int axis) {
  if (p.mode == Mode::kNearest) return 1;
  const double sc = p.antialias ? std::min(p.scales[axis], 1.0) : 1.0;
  const double start = p.mode == Mode::kLinear ? (p.antialias ? std::floor(-1 / sc) + 1 : 0)
                                               : (p.antialias ? std::floor(-2 / sc) + 1 : -1);
  return static_cast<int64_t>(std::min(2 - 2 * start, 1e18));
}

void build_taps(const ResizeParams& p, int axis, int64_t in, int64_t out, TapTables* t) {
  const double scale = p.scales[axis];
  for (int64_t o = 0; o < out; ++o) {
    t->begin.push_back(static_cast<cl_int>(t->idx.size()));
    const double x = original_coord(p, axis, o, in, out);
    bool outside = false;
    if (p.coord == Coord::kTfCropAndResize && (x < 0 || x > static_cast<double>(in - 1)))
      outside = true;
    if (!std::isfinite(x)) outside = true;
    if (outside) {
      t->idx.push_back(-1);
      t->w.push_back(0);
      continue;
    }
    if (p.mode == Mode::kNearest) {
      t->idx.push_back(
          static_cast<cl_int>(std::clamp<int64_t>(nearest_index(p, axis, x), 0, in - 1)));
      t->w.push_back(1);
      continue;
    }
    double base = std::floor(x);
    double ratio = x - base;
    if (ratio == 0) {
      ratio = 1;
      base -= 1;
    }
    const double sc = p.antialias ? std::min(scale, 1.0) : 1.0;
    const int64_t start = p.mode == Mode::kLinear
                              ? (p.antialias ? static_cast<int64_t>(std::floor(-1 / sc)) + 1 : 0)
                              : (p.antialias ? static_cast<int64_t>(std::floor(-2 / sc)) + 1 : -1);
    const int64_t n = 2 - 2 * start;
    std::vector<double> w(n);
    std::vector<int64_t> idx(n);
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double arg = (static_cast<double>(start + k) - ratio) * sc;
      w[k] = p.mode == Mode::kLinear ? std::clamp(1 - std::fabs(arg), 0.0, 1.0)
                                     : cubic_weight(arg, p.cubic_a);
      idx[k] = static_cast<int64_t>(base) + start + k;
      sum += w[k];
    }
    if (p.antialias && sum != 0)
      for (double& v : w) v /= sum;
    if (p.exclude_outside) {
      sum = 0;
      for (int64_t k = 0; k < n; ++k) {
        if (idx[k] < 0 || idx[k] >= in) w[k] = 0;
        sum += w[k];
      }
      if (sum != 0)
        for (double& v : w) v /= sum;
    }
    const size_t before = t->idx.size();
    for (int64_t k = 0; k < n; ++k) {
      if (w[k] == 0) continue;
      t->idx.push_back(static_cast<cl_int>(std::clamp<int64_t>(idx[k], 0, in - 1)));
      t->w.push_back(static_cast<float>(w[k]));
    }
    if (t->idx.size() == before) {  // every weight is zero: the CPU sums nothing
      t->idx.push_back(0);
      t->w.push_back(0);
    }
  }
  t->begin.push_back(static_cast<cl_int>(t->idx.size()));
}

std::vector<double> host_doubles(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.get_as_double(i);
  return v;
}

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

Status sizes_from_scales(const Shape& x, ResizeParams* p) {
  p->out.assign(x.size(), 0);
  for (size_t a = 0; a < x.size(); ++a) {
    const double s = p->scales[a];
    if (!(s > 0) || !std::isfinite(s)) return invalid_argument("scales must be positive");
    const double o = std::floor(s * static_cast<double>(x[a]));
    if (o > 4e18) return invalid_argument("output size overflows");
    p->out[a] = static_cast<int64_t>(o);
  }
  return Status::ok();
}

Status parse_mode(const std::string& mode, bool cubic_ok, Mode* out) {
  if (mode == "nearest") {
    *out = Mode::kNearest;
  } else if (mode == "linear") {
    *out = Mode::kLinear;
  } else if (mode == "cubic" && cubic_ok) {
    *out = Mode::kCubic;
  } else {
    return invalid_argument("mode '" + mode + "' is not valid");
  }
  return Status::ok();
}

// Resize's parameters from the node and its host inputs, as the CPU reference reads them.
Expected<ResizeParams> resize_params(const ir::Node& node, const std::vector<InputInfo>& in) {
  Attrs at{node, {}};
  const Shape& x = in[0].desc.shape;
  const int rank = static_cast<int>(x.size());
  const int opset = node.opset();
  ResizeParams p;
  bool missing_host = false;
  KILN_RETURN_IF_ERROR(parse_mode(at.s("mode", "nearest"), opset >= 11, &p.mode));
  if (opset < 11) {
    const Tensor* s = host_input(in, 1, &missing_host);
    if (missing_host) return unsupported("scales must be known on the host");
    if (!s || !is_float(s->dtype()) || s->rank() != 1 || s->numel() != rank)
      return invalid_argument("scales must be a float 1-D tensor of rank values");
    p.scales = host_doubles(*s);
    KILN_RETURN_IF_ERROR(sizes_from_scales(x, &p));
    KILN_RETURN_IF_ERROR(at.check());
    return p;
  }
  const std::string coord = at.s("coordinate_transformation_mode", "half_pixel");
  if (coord == "half_pixel")
    p.coord = Coord::kHalfPixel;
  else if (coord == "half_pixel_symmetric" && opset >= 19)
    p.coord = Coord::kHalfPixelSymmetric;
  else if (coord == "pytorch_half_pixel")
    p.coord = Coord::kPytorchHalfPixel;
  else if (coord == "align_corners")
    p.coord = Coord::kAlignCorners;
  else if (coord == "asymmetric")
    p.coord = Coord::kAsymmetric;
  else if (coord == "tf_half_pixel_for_nn" && opset < 13)
    p.coord = Coord::kTfHalfPixelForNn;
  else if (coord == "tf_crop_and_resize")
    p.coord = Coord::kTfCropAndResize;
  else
    return invalid_argument("coordinate_transformation_mode '" + coord + "' is not valid");
  const std::string nearest = at.s("nearest_mode", "round_prefer_floor");
  if (nearest == "round_prefer_floor")
    p.nearest = Nearest::kRoundPreferFloor;
  else if (nearest == "round_prefer_ceil")
    p.nearest = Nearest::kRoundPreferCeil;
  else if (nearest == "floor")
    p.nearest = Nearest::kFloor;
  else if (nearest == "ceil")
    p.nearest = Nearest::kCeil;
  else
    return invalid_argument("nearest_mode '" + nearest + "' is not valid");
  p.cubic_a = at.f("cubic_coeff_a", -0.75f);
  const int64_t exclude = at.i("exclude_outside", 0);
  if (exclude != 0 && exclude != 1) return invalid_argument("exclude_outside must be 0 or 1");
  p.exclude_outside = exclude == 1;
  p.extrapolation = at.f("extrapolation_value", 0.0f);
  std::string policy = "stretch";
  std::vector<int64_t> axes;
  if (opset >= 18) {
    const int64_t antialias = at.i("antialias", 0);
    if (antialias != 0 && antialias != 1) return invalid_argument("antialias must be 0 or 1");
    p.antialias = antialias == 1 && p.mode != Mode::kNearest;
    policy = at.s("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller")
      return invalid_argument("keep_aspect_ratio_policy '" + policy + "' is not valid");
    axes = at.ints("axes", {});
  }
  KILN_RETURN_IF_ERROR(at.check());
  if (axes.empty()) {
    for (int a = 0; a < rank; ++a) axes.push_back(a);
  } else {
    std::set<int64_t> seen;
    for (int64_t& a : axes) {
      KILN_ASSIGN_OR_RETURN(a, cpu::normalize_axis(a, rank, "axis"));
      if (!seen.insert(a).second) return invalid_argument("axes has duplicates");
    }
  }
  const size_t naxes = axes.size();
  const Tensor* scales = host_input(in, 2, &missing_host);
  const Tensor* sizes = host_input(in, 3, &missing_host);
  const Tensor* roi_t = host_input(in, 1, &missing_host);
  if (missing_host) return unsupported("roi, scales and sizes must be known on the host");
  if ((scales == nullptr) == (sizes == nullptr))
    return invalid_argument("exactly one of scales and sizes must be given");
  p.roi.assign(2 * rank, 0.0);
  for (int a = 0; a < rank; ++a) p.roi[rank + a] = 1.0;
  if (p.coord == Coord::kTfCropAndResize) {
    if (!roi_t) return invalid_argument("tf_crop_and_resize needs roi");
    if (!is_float(roi_t->dtype()) || roi_t->rank() != 1 ||
        roi_t->numel() != static_cast<int64_t>(2 * naxes))
      return invalid_argument("roi has the wrong shape");
    std::vector<double> r = host_doubles(*roi_t);
    for (size_t i = 0; i < naxes; ++i) {
      if (!std::isfinite(r[i]) || !std::isfinite(r[naxes + i]))
        return invalid_argument("roi values must be finite");
      p.roi[axes[i]] = r[i];
      p.roi[rank + axes[i]] = r[naxes + i];
    }
  }
  p.scales.assign(rank, 1.0);
  if (scales) {
    if (!is_float(scales->dtype()) || scales->rank() != 1 ||
        scales->numel() != static_cast<int64_t>(naxes))
      return invalid_argument("scales has the wrong shape");
    std::vector<double> s = host_doubles(*scales);
    for (size_t i = 0; i < naxes; ++i) p.scales[axes[i]] = s[i];
    KILN_RETURN_IF_ERROR(sizes_from_scales(x, &p));
  } else {
    if (sizes->dtype() != DType::kInt64 || sizes->rank() != 1 ||
        sizes->numel() != static_cast<int64_t>(naxes))
      return invalid_argument("sizes has the wrong shape");
    std::vector<int64_t> sz = sizes->to_int64_vector();
    p.out = x;
    for (size_t i = 0; i < naxes; ++i) {
      const int64_t a = axes[i];
      if (sz[i] < 0 || sz[i] > (int64_t{1} << 40))
        return invalid_argument("sizes value out of range");
      if (x[a] == 0) {
        if (sz[i] != 0) return invalid_argument("cannot resize an axis of size 0");
        continue;
      }
      p.scales[a] = static_cast<double>(sz[i]) / static_cast<double>(x[a]);
      p.out[a] = sz[i];
    }
    if (policy != "stretch") {
      double scale = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
      for (int64_t a : axes) {
        if (x[a] == 0) continue;
        scale =
            policy == "not_larger" ? std::min(scale, p.scales[a]) : std::max(scale, p.scales[a]);
      }
      if (!std::isfinite(scale) || scale <= 0)
        return invalid_argument("keep_aspect_ratio_policy leaves no positive scale");
      for (int64_t a : axes) {
        p.scales[a] = scale;
        p.out[a] = static_cast<int64_t>(scale * static_cast<double>(x[a]) + 0.5);
      }
    }
    for (int a = 0; a < rank; ++a)
      if (p.out[a] == 0 && p.scales[a] == 0) p.scales[a] = 1.0;
  }
  return p;
}

Expected<ResizeParams> upsample_params(const ir::Node& node, const std::vector<InputInfo>& in) {
  Attrs at{node, {}};
  const Shape& x = in[0].desc.shape;
  const int rank = static_cast<int>(x.size());
  ResizeParams p;
  KILN_RETURN_IF_ERROR(parse_mode(at.s("mode", "nearest"), false, &p.mode));
  if (node.opset() >= 9) {
    bool missing_host = false;
    const Tensor* s = host_input(in, 1, &missing_host);
    if (missing_host) return unsupported("scales must be known on the host");
    if (!s || !is_float(s->dtype()) || s->rank() != 1 || s->numel() != rank)
      return invalid_argument("scales must be a float 1-D tensor of rank values");
    p.scales = host_doubles(*s);
  } else {
    if (!at.has("scales")) return invalid_argument("attribute scales is required");
    std::vector<float> s = at.floats("scales");
    if (static_cast<int>(s.size()) != rank) return invalid_argument("scales has the wrong size");
    p.scales.assign(s.begin(), s.end());
  }
  KILN_RETURN_IF_ERROR(at.check());
  for (int a = 0; a < rank; ++a)
    if (!(p.scales[a] >= 1)) return invalid_argument("Upsample scales must be >= 1");
  KILN_RETURN_IF_ERROR(sizes_from_scales(x, &p));
  return p;
}

// Resize or Upsample's parameters plus the checks that keep the kernel within its limits.
Expected<ResizeParams> resample_plan(const ir::Node& node, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return invalid_argument("needs X");
  if (!is_f32(in[0])) return unsupported("only float32 Resize on OpenCL");
  const Shape& x = in[0].desc.shape;
  if (x.empty()) return invalid_argument("input X must have rank >= 1");
  if (x.size() > 8) return unsupported("rank above 8");
  ResizeParams p;
  if (node.op_type() == "Upsample") {
    KILN_ASSIGN_OR_RETURN(p, upsample_params(node, in));
  } else {
    KILN_ASSIGN_OR_RETURN(p, resize_params(node, in));
  }
  for (size_t a = 0; a < x.size(); ++a)
    if (x[a] == 0 && p.out[a] > 0) return invalid_argument("cannot resize an axis of size 0");
  int64_t out_numel = 1;
  for (int64_t d : p.out) {
    if (d >= INT_MAX) return unsupported("output of 2^31 or more elements");
    out_numel *= d;
    if (out_numel >= INT_MAX) return unsupported("output of 2^31 or more elements");
  }
  int64_t taps = 0;
  for (size_t a = 0; a < x.size(); ++a) {
    taps += p.out[a] * std::max<int64_t>(taps_per_coord(p, static_cast<int>(a)), 1) + 1;
    if (taps > (int64_t{1} << 24)) return unsupported("Resize tap tables too large for OpenCL");
  }
  return p;
}

class ResizeKernel : public ClLaunchKernel {
 public:
  ResizeKernel(ClContext& ctx, cl::Kernel k, const Shape& x, const ResizeParams& p,
               std::vector<cl::Buffer> tables, const std::vector<int64_t>& tb_off)
      : ClLaunchKernel(std::move(k), "resize", {0}, 1, ctx), tables_(std::move(tables)) {
    outputs_ = {TensorDesc{DType::kFloat32, p.out}};
    const int64_t total = numel_of(p.out);
    cl_uint a = 0;
    set_fixed(a++, static_cast<cl_int>(total));
    set_fixed(a++, static_cast<cl_int>(x.size()));
    set_fixed(a++, to_int8(p.out));
    set_fixed(a++, to_int8(cpu::strides_of(x)));
    set_fixed(a++, to_int8(tb_off));
    for (cl::Buffer& b : tables_) set_fixed(a++, b);
    set_fixed(a++, static_cast<float>(p.extrapolation));
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(total, 1)), 64));
    local_ = cl::NDRange(64);
    empty_ = total == 0;
  }
  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    return ClLaunchKernel::enqueue(in, out);
  }

 private:
  std::vector<cl::Buffer> tables_;  // tap_begin, tap_idx, tap_w
  bool empty_ = false;
};

Support resize_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  auto p = resample_plan(n, in);
  return p ? Support::yes() : Support::no(p.status().message());
}

template <typename T>
Expected<cl::Buffer> table_buffer(ClContext& ctx, const std::vector<T>& v) {
  std::vector<T> data = v;
  if (data.empty()) data.push_back(T{});
  cl_int err = CL_SUCCESS;
  cl::Buffer b(ctx.context(), CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, data.size() * sizeof(T),
               data.data(), &err);
  if (err != CL_SUCCESS) return out_of_memory("Resize tap table: " + cl_error_name(err));
  return b;
}

Expected<std::unique_ptr<DeviceKernel>> resize_prepare(ClContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(ResizeParams p, resample_plan(n, in));
  const Shape& x = in[0].desc.shape;
  TapTables t;
  std::vector<int64_t> tb_off;
  for (size_t a = 0; a < x.size(); ++a) {
    tb_off.push_back(static_cast<int64_t>(t.begin.size()));
    build_taps(p, static_cast<int>(a), x[a], p.out[a], &t);
  }
  std::vector<cl::Buffer> tables;
  KILN_ASSIGN_OR_RETURN(cl::Buffer b0, table_buffer(ctx, t.begin));
  KILN_ASSIGN_OR_RETURN(cl::Buffer b1, table_buffer(ctx, t.idx));
  KILN_ASSIGN_OR_RETURN(cl::Buffer b2, table_buffer(ctx, t.w));
  tables = {std::move(b0), std::move(b1), std::move(b2)};
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("conv", "", "resize"));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<ResizeKernel>(ctx, std::move(k), x, p, std::move(tables), tb_off));
}

}  // namespace

void register_cl_nn(ClOpRegistry& r) {
  r.add("Conv", {{}, conv_supports, conv_prepare});
  r.add("MaxPool", {{}, pool_supports, pool_prepare});
  r.add("AveragePool", {{}, pool_supports, pool_prepare});
  r.add("GlobalAveragePool", {{}, global_pool_supports, global_pool_prepare});
  r.add("GlobalMaxPool", {{}, global_pool_supports, global_pool_prepare});
  r.add("BatchNormalization", {{}, batch_norm_supports, batch_norm_prepare});
  r.add("Resize", {{1, 2, 3}, resize_supports, resize_prepare});
  r.add("Upsample", {{1}, resize_supports, resize_prepare});
}

}  // namespace kiln::opencl
