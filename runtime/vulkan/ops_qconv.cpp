// Vulkan ConvInteger and QLinearConv (shaders/qconv.comp): a direct integer convolution, one
// invocation per 4 output channels (groups of 4 or more; else 1) x 4 outputs of a row, int8 / uint8
// x and w (8-bit storage), 32-bit accumulation, groups (depthwise included), strides, pads,
// auto_pad and dilations over 1 to 3 spatial axes, w_zero_point / w_scale per tensor or per output
// channel. ConvInteger writes the int32 sums; QLinearConv writes them to a scratch buffer, then
// qconv_requant adds the int32 bias and requantizes exactly as the CPU reference
// (runtime/cpu/ops/nn_conv.cpp):
//   y = saturate(nearbyint(double(acc + bias[m]) * double(x_scale * w_scale[m] / y_scale)) + y_zp)
// Results are bit-identical to the CPU's. Geometry comes from runtime/device/nn_params
// (conv_shape, the same checks as the float Conv). Refused (CPU fallback, with the reason): no
// 8-bit storage on the device, float16 scales, per-channel x / y parameters, QLinearConv sums
// that could leave int32 (C/group x kernel size above 33025, as on OpenCL: the requantization
// takes |acc| < 2^31 plus an int32 bias as a 32-bit magnitude) and shapes beyond the shader's
// 32-bit indices or lavapipe's loop limit.
#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/device/nn_params.h"
#include "runtime/device/quant_params.h"
#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan {

namespace {

using device::quant::has;
using device::quant::is_8bit;
using device::quant::is_scalar_like;

constexpr uint32_t kOffsets = 8;  // push words 0..7: element offsets of the bindings
constexpr uint32_t kLocal = 64;
// llvmpipe (lavapipe) stops an invocation's loops after 65535 iterations in all.
constexpr int64_t kMaxLoop = 60000;
// QLinearConv: the sums must not wrap (255 * 255 * 33025 < 2^31), so |acc + bias| < 2^32.
constexpr int64_t kMaxQLinearTerms = 33025;
constexpr device::DeviceTarget kTarget{"Vulkan", "Vulkan shader", true};

// Push-constant parameters after the 8 offsets.
class Params {
 public:
  Params& u(int64_t v) {
    if (next_ < kPushWords) words_[next_] = static_cast<uint32_t>(v);
    ++next_;
    return *this;
  }
  Params& arr(const std::array<int64_t, cpu::nn::kMaxSpatial>& v) {
    for (int64_t x : v) u(x);
    return *this;
  }
  bool overflow() const { return next_ > kPushWords; }
  const PushWords& words() const { return words_; }

 private:
  PushWords words_{};
  uint32_t next_ = kOffsets;
};

// Which tensor a binding reads or writes: a node input (or, index < 0, a dummy buffer the
// shader does not read), the output, or the int32 scratch.
struct Ref {
  enum Kind { kInput, kOutput, kScratch, kDummy } kind = kDummy;
  int index = 0;
  uint32_t elem_size = 4;
};
Ref in_ref(int i, uint32_t es) {
  return i < 0 ? Ref{Ref::kDummy, 0, es} : Ref{Ref::kInput, i, es};
}

class QConvKernel : public DeviceKernel {
 public:
  QConvKernel(VkContext& ctx, std::string name, TensorDesc out)
      : ctx_(ctx), name_(std::move(name)) {
    outputs_ = {std::move(out)};
  }
  Status init(size_t scratch_bytes) {
    for (DeviceTensor* t : {&dummy_, &scratch_}) {
      const size_t bytes = t == &dummy_ ? 16 : std::max<size_t>((scratch_bytes + 3) / 4 * 4, 16);
      KILN_ASSIGN_OR_RETURN(std::shared_ptr<device::DeviceBuffer> b, ctx_.allocate(bytes));
      t->desc = {DType::kUInt8, {static_cast<int64_t>(bytes)}};
      t->buffer = std::move(b);
      if (scratch_bytes == 0) break;
    }
    return Status::ok();
  }
  Status add_step(const std::string& variant, std::vector<Ref> refs, const Params& p,
                  int64_t items) {
    if (p.overflow()) return internal_error(variant + ": too many push constants");
    Step s;
    KILN_ASSIGN_OR_RETURN(s.pipe,
                          ctx_.pipeline(variant, static_cast<uint32_t>(refs.size()), kLocal));
    s.refs = std::move(refs);
    s.push = p.words();
    s.groups = grid_groups(items, kLocal);
    steps_.push_back(std::move(s));
    return Status::ok();
  }
  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    for (const Step& s : steps_) {
      VkDispatch d;
      d.pipe = s.pipe;
      d.push = s.push;
      d.groups[0] = s.groups;
      for (size_t k = 0; k < s.refs.size(); ++k) {
        const Ref& r = s.refs[k];
        const DeviceTensor* t = &dummy_;
        if (r.kind == Ref::kInput || r.kind == Ref::kOutput) {
          const auto& list = r.kind == Ref::kInput ? inputs : outputs;
          if (r.index >= static_cast<int>(list.size()) || !list[r.index].buffer)
            return internal_error(name_ + ": " + (r.kind == Ref::kOutput ? "output " : "input ") +
                                  std::to_string(r.index) + " is not on the device");
          t = &list[r.index];
        } else if (r.kind == Ref::kScratch) {
          t = &scratch_;
        }
        const bool write =
            r.kind == Ref::kOutput || (r.kind == Ref::kScratch && k + 1 == s.refs.size());
        uint32_t off = 0;
        KILN_ASSIGN_OR_RETURN(VkBinding b, ctx_.bind(*t, r.elem_size, write, &off));
        d.push[k] = off;
        d.bindings.push_back(std::move(b));
      }
      ctx_.enqueue(std::move(d));
    }
    return Status::ok();
  }
  std::string name() const override { return name_; }

 private:
  struct Step {
    const VkPipelineEntry* pipe = nullptr;
    std::vector<Ref> refs;
    PushWords push{};
    uint32_t groups = 1;
  };
  VkContext& ctx_;
  std::string name_;
  std::vector<Step> steps_;
  DeviceTensor dummy_, scratch_;
};

// The checked form of a ConvInteger / QLinearConv node.
struct QConvPlan {
  device::ConvShape p;
  bool qlinear = false;
  int x = 0, w = 1, x_zp = -1, w_zp = -1;  // input indices (-1: absent)
  int64_t wzp_stride = 0, ws_stride = 0;
  bool bias = false;
};

bool scalar_or_channels(const Shape& s, int64_t m) {
  return is_scalar_like(s) || (s.size() == 1 && s[0] == m);
}

// qconv_i32_m4 (4 output channels x 4 outputs of a row per invocation) for groups of 4 or more
// output channels, else qconv_i32 (1 x 4). KILN_VK_QCONV=m1 forces qconv_i32 (tests, bench).
bool use_m4(const device::ConvShape& p) {
  const char* e = std::getenv("KILN_VK_QCONV");
  return p.mg >= 4 && !(e && std::string(e) == "m1");
}

// Invocations of the conv step.
int64_t conv_items(const device::ConvShape& p) {
  const int64_t channels = use_m4(p) ? p.group * ((p.mg + 3) / 4) : p.m;
  return p.n * channels * p.g.out[0] * p.g.out[1] * ((p.g.out[2] + 3) / 4);
}

Status no_bias(const InputInfo&, DType) {
  return internal_error("unexpected bias");
}

Expected<QConvPlan> qconv_plan(const VkContext& ctx, const ir::Node& n,
                               const std::vector<InputInfo>& in) {
  if (!ctx.features().bytes())
    return unsupported("int8 kernels need 8-bit storage and shaderInt8 on the Vulkan device");
  QConvPlan q;
  q.qlinear = n.op_type() == "QLinearConv";
  if (q.qlinear) {
    for (size_t i = 0; i < 8; ++i)
      if (!has(in, i))
        return invalid_argument("QLinearConv needs all of inputs 0..7 (input " + std::to_string(i) +
                                " is missing)");
    q.w = 3;
    q.x_zp = 2;
    q.w_zp = 5;
  } else {
    if (!has(in, 0) || !has(in, 1)) return invalid_argument("ConvInteger needs inputs x and w");
    if (has(in, 2)) q.x_zp = 2;
    if (has(in, 3)) q.w_zp = 3;
  }
  const DType xt = in[0].desc.dtype, wt = in[q.w].desc.dtype;
  if (!is_8bit(xt) || !is_8bit(wt)) return unsupported("x and w must be int8 or uint8");
  KILN_ASSIGN_OR_RETURN(q.p, device::conv_shape(n, {in[0], in[q.w]}, kTarget, no_bias));
  const device::ConvShape& p = q.p;
  if (q.x_zp >= 0) {
    if (in[q.x_zp].desc.dtype != xt)
      return invalid_argument("x_zero_point's dtype differs from x's");
    if (!is_scalar_like(in[q.x_zp].desc.shape))
      return unsupported("x_zero_point must be a scalar on Vulkan");
  }
  if (q.w_zp >= 0) {
    const Shape& s = in[q.w_zp].desc.shape;
    if (in[q.w_zp].desc.dtype != wt)
      return invalid_argument("w_zero_point's dtype differs from w's");
    if (!scalar_or_channels(s, p.m))
      return invalid_argument(
          "w_zero_point must be a scalar or 1-D with one value per output "
          "channel (" +
          std::to_string(p.m) + ")");
    q.wzp_stride = numel_of(s) == 1 ? 0 : 1;
  }
  if (q.qlinear) {
    if (!is_8bit(in[7].desc.dtype)) return unsupported("y_zero_point must be int8 or uint8");
    for (int s : {1, 4, 6})
      if (in[s].desc.dtype != DType::kFloat32) return unsupported("only float32 scales on Vulkan");
    for (int s : {1, 6, 7})
      if (!is_scalar_like(in[s].desc.shape))
        return unsupported("x_scale / y_scale / y_zero_point must be scalars on Vulkan");
    if (!scalar_or_channels(in[4].desc.shape, p.m))
      return invalid_argument(
          "w_scale must be a scalar or 1-D with one value per output "
          "channel (" +
          std::to_string(p.m) + ")");
    q.ws_stride = numel_of(in[4].desc.shape) == 1 ? 0 : 1;
    // Scales known here: a multiplier that is not finite is an error of the CPU kernel, so the
    // node goes there (scales fed at run time are not checked: the device saturates).
    const Tensor *xsv = in[1].host_value, *wsv = in[4].host_value, *ysv = in[6].host_value;
    if (xsv && wsv && ysv) {
      for (int64_t m = 0; m < p.m; ++m) {
        const float mult =
            xsv->data<float>()[0] * wsv->data<float>()[q.ws_stride * m] / ysv->data<float>()[0];
        if (!std::isfinite(mult))
          return invalid_argument("x_scale * w_scale / y_scale is not finite for output channel " +
                                  std::to_string(m));
      }
    }
    if (has(in, 8)) {
      if (in[8].desc.dtype != DType::kInt32) return invalid_argument("bias B must be int32");
      if (in[8].desc.shape != Shape{p.m}) return invalid_argument("bias must be 1-D of M values");
      q.bias = true;
    }
  }
  const int64_t out = numel_of(p.out);
  const Shape& xs = in[0].desc.shape;
  const Shape& ws = in[q.w].desc.shape;
  if (out > 0 && (numel_of(xs) == 0 || numel_of(ws) == 0))
    return unsupported("empty x or w with a non-empty output");
  if (!ops::fits_u32(out) || !ops::fits_u32(numel_of(xs)) || !ops::fits_u32(numel_of(ws)))
    return unsupported("tensors of 2^31 or more elements");
  const int64_t terms = p.cg * p.g.k_size();
  if (q.qlinear && terms > kMaxQLinearTerms)
    return unsupported("C/group x kernel size = " + std::to_string(terms) +
                       " is above the requantization's limit of " +
                       std::to_string(kMaxQLinearTerms) + " (sums within int32)");
  // Loop iterations of one invocation: blocks of 4 outputs per invocation x (taps x (channels +
  // 1) + rows + 4 stores).
  const int64_t per_inv =
      std::max<int64_t>(1, (conv_items(p) + 65535 * kLocal - 1) / (65535 * kLocal));
  const int64_t iters = p.g.k_size() * (p.cg + 1) + p.g.k[0] * (p.g.k[1] + 1) + 24;
  if (per_inv * iters > kMaxLoop)
    return unsupported("the convolution needs " + std::to_string(per_inv * iters) +
                       " loop iterations per invocation, above lavapipe's limit of " +
                       std::to_string(kMaxLoop));
  return q;
}

Support qconv_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  return device::to_support(qconv_plan(ctx, n, in).status());
}

uint32_t s8_flag(DType t, uint32_t bit) {
  return t == DType::kInt8 ? bit : 0u;
}

Expected<std::unique_ptr<DeviceKernel>> qconv_prepare(VkContext& ctx, const ir::Node& n,
                                                      const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(QConvPlan q, qconv_plan(ctx, n, in));
  const device::ConvShape& p = q.p;
  const int64_t total = numel_of(p.out);
  const DType yt = q.qlinear ? in[7].desc.dtype : DType::kInt32;
  auto k = std::make_unique<QConvKernel>(ctx, q.qlinear ? "qconv_i32+qconv_requant" : "qconv_i32",
                                         TensorDesc{yt, p.out});
  KILN_RETURN_IF_ERROR(k->init(q.qlinear ? static_cast<size_t>(total) * sizeof(int32_t) : 0));
  if (total == 0) return std::unique_ptr<DeviceKernel>(std::move(k));
  const cpu::nn::Geom& g = p.g;
  Params c;
  const int64_t items = conv_items(p);
  c.u(items).u(p.m).u(p.cg).u(p.mg);
  c.u((q.x_zp >= 0 ? 1u : 0u) | (q.w_zp >= 0 ? 2u : 0u) | s8_flag(in[0].desc.dtype, 4u) |
      s8_flag(in[q.w].desc.dtype, 8u));
  c.u(q.wzp_stride);
  c.arr(g.in).arr(g.k).arr(g.s).arr(g.d).arr(g.pb).arr(g.out);
  const Ref acc = q.qlinear ? Ref{Ref::kScratch, 0, 4} : Ref{Ref::kOutput, 0, 4};
  KILN_RETURN_IF_ERROR(k->add_step(
      use_m4(p) ? "qconv_i32_m4" : "qconv_i32",
      {in_ref(0, 1), in_ref(q.w, 1), in_ref(q.x_zp, 1), in_ref(q.w_zp, 1), acc}, c, items));
  if (q.qlinear) {
    Params r;
    r.u(total).u(g.out_size()).u(p.m).u(q.ws_stride);
    r.u((q.bias ? 1u : 0u) | s8_flag(yt, 2u));
    KILN_RETURN_IF_ERROR(
        k->add_step("qconv_requant",
                    {Ref{Ref::kScratch, 0, 4}, in_ref(q.bias ? 8 : -1, 4), in_ref(1, 4),
                     in_ref(4, 4), in_ref(6, 4), in_ref(7, 1), Ref{Ref::kOutput, 0, 1}},
                    r, total));
  }
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

}  // namespace

void register_vk_qconv(VkOpRegistry& r) {
  r.add("ConvInteger", {{}, qconv_supports, qconv_prepare});
  r.add("QLinearConv", {{}, qconv_supports, qconv_prepare});
}

}  // namespace kiln::vulkan
