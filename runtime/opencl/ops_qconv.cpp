// OpenCL ConvInteger and QLinearConv (kernels/qconv.cl): a direct int8 convolution, one output
// pixel of 4 (or 1) output channels per work-item, for 1 to 3 spatial axes, groups (depthwise
// included), strides, dilations, pads and auto_pad (the geometry is the CPU reference's, through
// device::conv_shape), int8 / uint8 x and w, w's scale and zero point per tensor or per output
// channel, an int32 bias. ConvInteger's int32 output and QLinearConv's requantized 8-bit output are
// bit-identical to the CPU reference (runtime/cpu/ops/nn_conv.cpp). Refused with the reason (and
// run on the CPU): other dtypes, parameter shapes the CPU rejects, QLinearConv windows whose int32
// sum could overflow (C/group * kernel size above 33025, where the CPU's int64 sum would differ),
// multipliers known on the host not to be finite (the CPU reports those), and tensors of 2^31
// elements or more.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "runtime/device/quant_params.h"
#include "runtime/opencl/ops_nn_internal.h"

namespace kiln::opencl {

namespace {

using namespace nn_detail;  // NOLINT(build/namespaces)
using device::quant::has;
using device::quant::is_8bit;
using device::quant::is_scalar_like;

// The largest C/group * kernel size whose sum of 255 * 255 products stays below 2^31.
constexpr int64_t kMaxQLinearWindow = std::numeric_limits<int32_t>::max() / (255 * 255);

cl_uchar mask_of(DType t) {
  return t == DType::kInt8 ? 0x80 : 0;
}

Status bias_int32(const InputInfo& bias, DType) {
  if (bias.desc.dtype != DType::kInt32) return invalid_argument("bias must be int32");
  return Status::ok();
}

// A zero point or scale: one value, or (per_channel > 0) 1-D with one value per output channel.
// Returns its stride (0 per tensor, 1 per channel).
Expected<int> param_stride(const InputInfo& p, const char* name, DType want, int64_t per_channel) {
  if (p.desc.dtype != want)
    return unsupported(std::string(name) + " must be " + dtype_name(want) + " on OpenCL");
  const Shape& s = p.desc.shape;
  if (is_scalar_like(s)) return 0;
  if (per_channel > 0 && s.size() == 1 && s[0] == per_channel) return 1;
  return unsupported(std::string(name) + " of shape " + shape_to_string(s) +
                     (per_channel > 0 ? " is neither a scalar nor one value per output channel"
                                      : " is not a scalar"));
}

struct QConvPlan {
  device::ConvShape shape;
  bool qlinear = false;
  int w = 1;  // W's input index
  DType xt = DType::kUInt8, wt = DType::kUInt8, yt = DType::kInt32;
  int wz_stride = 0, ws_stride = 0;
};

Status check_elements(const InputInfo& t, const char* name) {
  if (t.desc.numel() >= (int64_t{1} << 31))
    return unsupported(std::string(name) + " has 2^31 elements or more (OpenCL int offsets)");
  return Status::ok();
}

Expected<QConvPlan> qconv_plan(const ir::Node& node, const std::vector<InputInfo>& in) {
  QConvPlan p;
  p.qlinear = node.op_type() == "QLinearConv";
  p.w = p.qlinear ? 3 : 1;
  if (p.qlinear) {
    for (size_t i = 0; i < 8; ++i)
      if (!has(in, i)) return invalid_argument("QLinearConv needs its first 8 inputs");
  } else if (!has(in, 0) || !has(in, 1)) {
    return invalid_argument("ConvInteger needs x and w");
  }
  p.xt = in[0].desc.dtype;
  p.wt = in[static_cast<size_t>(p.w)].desc.dtype;
  if (!is_8bit(p.xt) || !is_8bit(p.wt))
    return unsupported("x and w must be int8 or uint8 on OpenCL");
  KILN_RETURN_IF_ERROR(check_elements(in[0], "x"));
  KILN_RETURN_IF_ERROR(check_elements(in[static_cast<size_t>(p.w)], "w"));
  // device::conv_shape reads X, W and the optional bias at 0, 1, 2.
  std::vector<InputInfo> conv_in = {in[0], in[static_cast<size_t>(p.w)]};
  if (p.qlinear && has(in, 8)) conv_in.push_back(in[8]);
  KILN_ASSIGN_OR_RETURN(p.shape, device::conv_shape(node, conv_in, kClTarget, bias_int32));
  const int64_t m = p.shape.m;
  if (!p.qlinear) {
    p.yt = DType::kInt32;
    if (has(in, 2)) {
      KILN_RETURN_IF_ERROR(param_stride(in[2], "x_zero_point", p.xt, 0).status());
    }
    if (has(in, 3)) {
      KILN_ASSIGN_OR_RETURN(p.wz_stride, param_stride(in[3], "w_zero_point", p.wt, m));
    }
    return p;
  }
  p.yt = in[7].desc.dtype;
  if (!is_8bit(p.yt)) return unsupported("y_zero_point must be int8 or uint8 on OpenCL");
  KILN_RETURN_IF_ERROR(param_stride(in[1], "x_scale", DType::kFloat32, 0).status());
  KILN_RETURN_IF_ERROR(param_stride(in[2], "x_zero_point", p.xt, 0).status());
  KILN_ASSIGN_OR_RETURN(p.ws_stride, param_stride(in[4], "w_scale", DType::kFloat32, m));
  KILN_ASSIGN_OR_RETURN(p.wz_stride, param_stride(in[5], "w_zero_point", p.wt, m));
  KILN_RETURN_IF_ERROR(param_stride(in[6], "y_scale", DType::kFloat32, 0).status());
  KILN_RETURN_IF_ERROR(param_stride(in[7], "y_zero_point", p.yt, 0).status());
  if (p.shape.cg * p.shape.g.k_size() > kMaxQLinearWindow)
    return unsupported("QLinearConv window of " + std::to_string(p.shape.cg * p.shape.g.k_size()) +
                       " taps could overflow the OpenCL kernel's int32 sum (at most " +
                       std::to_string(kMaxQLinearWindow) + ")");
  // Multipliers known on the host: the CPU reports a non-finite one as an error.
  const Tensor *xs = in[1].host_value, *ws = in[4].host_value, *ys = in[6].host_value;
  if (xs && ws && ys) {
    for (int64_t c = 0; c < (p.ws_stride ? m : 1); ++c) {
      const float q = xs->data<float>()[0] * ws->data<float>()[c] / ys->data<float>()[0];
      if (!std::isfinite(q))
        return unsupported("x_scale * w_scale / y_scale is not finite (the CPU reports it)");
    }
  }
  return p;
}

class QConvKernel : public SkipEmptyKernel {
 public:
  QConvKernel(ClContext& ctx, cl::Kernel k, const QConvPlan& p, int mb, bool has_xz, bool has_wz,
              bool has_bias)
      : SkipEmptyKernel(std::move(k), p.qlinear ? "qlinear_conv" : "qconv_integer",
                        p.qlinear ? std::vector<int>{0, 3, 2, 5, 1, 4, 6, 7, has_bias ? 8 : 0}
                                  : std::vector<int>{0, 1, has_xz ? 2 : 0, has_wz ? 3 : 0},
                        1, ctx) {
    const device::ConvShape& s = p.shape;
    const Geom& g = s.g;
    outputs_ = {TensorDesc{p.yt, s.out}};
    cl_uint a = 0;
    set_fixed(a++, static_cast<cl_int>(s.c));
    set_fixed(a++, static_cast<cl_int>(s.m));
    set_fixed(a++, static_cast<cl_int>(s.cg));
    set_fixed(a++, static_cast<cl_int>(s.mg));
    const int64_t mblocks = (s.mg + mb - 1) / mb;
    set_fixed(a++, static_cast<cl_int>(mblocks));
    if (p.qlinear) {
      set_fixed(a++, static_cast<cl_int>(p.ws_stride));
      set_fixed(a++, static_cast<cl_int>(p.wz_stride));
      set_fixed(a++, static_cast<cl_int>(has_bias));
      set_fixed(a++, mask_of(p.xt));
      set_fixed(a++, mask_of(p.wt));
      set_fixed(a++, mask_of(p.yt));
      set_fixed(a++, static_cast<cl_int>(p.yt == DType::kInt8 ? -128 : 0));
      set_fixed(a++, static_cast<cl_int>(p.yt == DType::kInt8 ? 127 : 255));
    } else {
      set_fixed(a++, static_cast<cl_int>(has_xz));
      set_fixed(a++, static_cast<cl_int>(has_wz));
      set_fixed(a++, static_cast<cl_int>(p.wz_stride));
      set_fixed(a++, mask_of(p.xt));
      set_fixed(a++, mask_of(p.wt));
    }
    set_fixed(a++, to_int4(g.in));
    set_fixed(a++, to_int4(g.k));
    set_fixed(a++, to_int4(g.s));
    set_fixed(a++, to_int4(g.d));
    set_fixed(a++, to_int4(g.pb));
    set_fixed(a++, to_int4(g.out));
    const int64_t plane = g.out_size();
    const size_t l0 = pick_local(plane);
    global_ = cl::NDRange(round_up(static_cast<size_t>(std::max<int64_t>(plane, 1)), l0),
                          static_cast<size_t>(std::max<int64_t>(s.group * mblocks, 1)),
                          static_cast<size_t>(std::max<int64_t>(s.n, 1)));
    local_ = cl::NDRange(l0, 1, 1);
    empty_ = numel_of(s.out) == 0;
  }
};

Support qconv_supports(const ir::Node& node, const std::vector<InputInfo>& in) {
  auto p = qconv_plan(node, in);
  return p ? Support::yes() : Support::no(p.status().message());
}

Expected<std::unique_ptr<DeviceKernel>> qconv_prepare(ClContext& ctx, const ir::Node& node,
                                                      const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(QConvPlan p, qconv_plan(node, in));
  // Four output channels per work-item where a group has that many (x read once for them);
  // KILN_CL_QCONV_MB=1 forces one (for measurements).
  const char* force = std::getenv("KILN_CL_QCONV_MB");
  const int mb = p.shape.mg >= 4 && !(force && std::string(force) == "1") ? 4 : 1;
  KILN_ASSIGN_OR_RETURN(
      cl::Kernel k,
      ctx.kernel("qconv", "-cl-fp32-correctly-rounded-divide-sqrt -DQC_MB=" + std::to_string(mb),
                 p.qlinear ? "qlinear_conv" : "qconv_integer"));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<QConvKernel>(ctx, std::move(k), p, mb, !p.qlinear && has(in, 2),
                                    !p.qlinear && has(in, 3), p.qlinear && has(in, 8)));
}

}  // namespace

void register_cl_qconv(ClOpRegistry& r) {
  r.add("ConvInteger", {{}, qconv_supports, qconv_prepare});
  r.add("QLinearConv", {{}, qconv_supports, qconv_prepare});
}

}  // namespace kiln::opencl
