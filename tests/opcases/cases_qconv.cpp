// OpCases for the int8 convolutions ConvInteger and QLinearConv (OpenCL: runtime/opencl/
// ops_qconv.cpp). Outputs must be bit-exact (atol = rtol = 0). Odd sizes (1x1 image, 13x13,
// channels 3 / 5 / 13), 1x1 and 3x3 kernels, strides 2, pads, dilation 2, auto_pad, groups and
// depthwise, zero points 0 / 3 / 128 / 255 / -128 and per output channel, outputs saturating both
// ways, multiplier ties (0.5), and ConvInteger's int32 wrap-around (x = 255, w = -128 over 72000
// taps).
#include <string>
#include <vector>

#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

using Attrs = std::map<std::string, ir::Attribute>;
const DType u8 = DType::kUInt8, s8 = DType::kInt8;

InputSpec q(DType t, Shape s, bool constant = false) {
  InputSpec i;
  i.dtype = t;
  i.shape = std::move(s);
  i.lo = t == DType::kInt8 ? -128 : 0;
  i.hi = t == DType::kInt8 ? 128 : 256;
  i.constant = constant;
  return i;
}
InputSpec ranged(InputSpec i, double lo, double hi) {
  i.lo = lo;
  i.hi = hi;
  return i;
}
InputSpec filled(InputSpec i, double v) {
  i.values = {v};
  return i;
}
InputSpec scalar(DType t, double v) {
  InputSpec i;
  i.dtype = t;
  i.values = {v};
  i.constant = true;
  return i;
}
InputSpec f32(double v) {
  return scalar(DType::kFloat32, v);
}
InputSpec bias(int64_t m) {
  InputSpec i;
  i.dtype = DType::kInt32;
  i.shape = {m};
  i.lo = -3000;
  i.hi = 3000;
  i.constant = true;
  return i;
}

OpCase make(std::string name, std::string op, std::vector<InputSpec> in, Attrs attrs) {
  OpCase c;
  c.name = op + "/" + std::move(name);
  c.op = std::move(op);
  c.opset = 10;
  c.inputs = std::move(in);
  c.attrs = std::move(attrs);
  c.atol = 0;
  c.rtol = 0;
  return c;
}

void add_conv_integer(std::vector<OpCase>& v) {
  auto ci = [&](std::string name, std::vector<InputSpec> in, Attrs a = {}) {
    v.push_back(make(std::move(name), "ConvInteger", std::move(in), std::move(a)));
  };
  ci("u8u8_13x13_c3_m5_k3_pad1",
     {q(u8, {1, 3, 13, 13}), q(u8, {5, 3, 3, 3}, true), scalar(u8, 128), scalar(u8, 3)},
     {{"pads", attr_ints({1, 1, 1, 1})}});
  ci("s8s8_no_zero_points_1x1_image_c5_m13_k1", {q(s8, {1, 5, 1, 1}), q(s8, {13, 5, 1, 1})});
  ci("s8u8_per_channel_wzp_stride2_dilation2_pads",
     {q(s8, {2, 3, 13, 13}), q(u8, {5, 3, 3, 3}, true), scalar(s8, -128), q(u8, {5}, true)},
     {{"strides", attr_ints({2, 2})},
      {"dilations", attr_ints({2, 2})},
      {"pads", attr_ints({1, 2, 3, 0})}});
  ci("u8s8_depthwise_c13_same_upper",
     {q(u8, {1, 13, 13, 13}), q(s8, {13, 1, 3, 3}, true), scalar(u8, 255), omitted()},
     {{"group", attr_i(13)}, {"auto_pad", attr_s("SAME_UPPER")}, {"strides", attr_ints({2, 2})}});
  ci("u8u8_1d_group3_k3", {q(u8, {1, 6, 13}), q(u8, {9, 2, 3}), scalar(u8, 7), scalar(u8, 250)},
     {{"group", attr_i(3)}});
  ci("s8s8_nonsquare_k1x3_stride1x2_batch2",
     {q(s8, {2, 5, 13, 7}), q(s8, {3, 5, 1, 3}, true), scalar(s8, 1), q(s8, {3}, true)},
     {{"strides", attr_ints({1, 2})}, {"pads", attr_ints({0, 1, 0, 2})}});
  // 255 * -128 over 8000 * 9 taps: the int32 sum wraps around (as the CPU's int64 cast to int32).
  ci("wrap_72000_taps",
     {filled(q(u8, {1, 8000, 3, 3}), 255), filled(q(s8, {2, 8000, 3, 3}, true), -128)});
}

void add_qlinear_conv(std::vector<OpCase>& v) {
  auto qc = [&](std::string name, std::vector<InputSpec> in, Attrs a = {}) {
    v.push_back(make(std::move(name), "QLinearConv", std::move(in), std::move(a)));
  };
  // Inputs: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, bias.
  qc("u8u8u8_13x13_c3_m5_k3_pad1_bias",
     {q(u8, {1, 3, 13, 13}), f32(0.01), scalar(u8, 128), q(u8, {5, 3, 3, 3}, true), f32(0.005),
      scalar(u8, 120), f32(0.002), scalar(u8, 128), bias(5)},
     {{"pads", attr_ints({1, 1, 1, 1})}});
  qc("s8s8s8_per_channel_stride2_dilation2_pads",
     {q(s8, {2, 5, 13, 13}), f32(0.02), scalar(s8, 3), q(s8, {13, 5, 3, 3}, true),
      const_f32({13}, 0.001, 0.01), q(s8, {13}, true), f32(0.05), scalar(s8, -5), bias(13)},
     {{"strides", attr_ints({2, 2})},
      {"dilations", attr_ints({2, 2})},
      {"pads", attr_ints({2, 1, 0, 3})}});
  qc("u8s8u8_depthwise_c13_per_channel_same_lower",
     {q(u8, {1, 13, 13, 13}), f32(0.02), scalar(u8, 100), q(s8, {13, 1, 3, 3}, true),
      const_f32({13}, 0.002, 0.02), q(s8, {13}, true), f32(0.01), scalar(u8, 128), bias(13)},
     {{"group", attr_i(13)}, {"auto_pad", attr_s("SAME_LOWER")}});
  qc("s8u8s8_1x1_image_c13_m3_k1_no_bias",
     {q(s8, {1, 13, 1, 1}), f32(0.03), scalar(s8, 0), q(u8, {3, 13, 1, 1}), f32(0.01),
      scalar(u8, 128), f32(0.01), scalar(s8, 1)});
  qc("u8u8u8_group5_c5_m5_k3_valid_runtime_scales",
     {q(u8, {1, 5, 13, 13}), in_f32({}, 0.01, 0.02), scalar(u8, 128), q(u8, {5, 1, 3, 3}),
      in_f32({5}, 0.001, 0.01), q(u8, {5}, true), in_f32({}, 0.001, 0.003), scalar(u8, 3)},
     {{"group", attr_i(5)}, {"auto_pad", attr_s("VALID")}});
  qc("s8s8u8_1d_group3_k3_stride2",
     {q(s8, {3, 6, 13}), f32(0.05), scalar(s8, -3), q(s8, {9, 2, 3}, true), f32(0.02),
      scalar(s8, 0), f32(0.1), scalar(u8, 60), bias(9)},
     {{"group", attr_i(3)}, {"strides", attr_ints({2})}, {"pads", attr_ints({1, 1})}});
  qc("u8s8s8_3d_k3_pad1_stride2_per_channel",
     {q(u8, {1, 3, 7, 5, 6}), f32(0.02), scalar(u8, 128), q(s8, {5, 3, 3, 3, 3}, true),
      const_f32({5}, 0.001, 0.004), q(s8, {5}, true), f32(0.03), scalar(s8, 2), bias(5)},
     {{"strides", attr_ints({2, 1, 2})}, {"pads", attr_ints({1, 1, 1, 1, 0, 1})}});
  // Saturation both ways: y_zero_point 255 (uint8) and -128 (int8), large multipliers.
  qc("saturate_u8_zp255",
     {q(u8, {1, 3, 13, 13}), f32(0.1), scalar(u8, 128), q(s8, {5, 3, 3, 3}, true), f32(0.1),
      scalar(s8, 0), f32(0.5), scalar(u8, 255), bias(5)},
     {{"pads", attr_ints({1, 1, 1, 1})}});
  qc("saturate_s8_zp_minus128",
     {filled(q(u8, {1, 5, 7, 7}), 255), f32(0.1), scalar(u8, 0), q(s8, {3, 5, 3, 3}, true),
      f32(0.1), scalar(s8, 0), f32(0.3), scalar(s8, -128)});
  // 4000 * 9 = 36000 taps: the int32 sum could overflow, so OpenCL refuses it (runs on the CPU).
  OpCase big = make("window_36000_taps_refused", "QLinearConv",
                    {filled(q(u8, {1, 4000, 3, 3}), 255), f32(0.0001), scalar(u8, 0),
                     filled(q(s8, {2, 4000, 3, 3}, true), -128), f32(0.0001), scalar(s8, 0),
                     f32(0.01), scalar(u8, 0)},
                    {});
  big.cpu_ok_on = {"opencl"};
  v.push_back(big);
  // Multiplier 0.5 with small sums: every odd sum is a tie, rounded half to even.
  qc("ties_half_even",
     {ranged(q(u8, {1, 3, 13, 13}), 126, 131), f32(0.5), scalar(u8, 128),
      ranged(q(s8, {5, 3, 1, 1}, true), -2, 3), f32(1), scalar(s8, 0), f32(1), scalar(u8, 128)});
  qc("ties_s8_out_k3_pad1",
     {ranged(q(s8, {1, 3, 13, 13}), -2, 3), f32(0.25), scalar(s8, 0),
      ranged(q(s8, {5, 3, 3, 3}), -2, 3), f32(2), scalar(s8, 0), f32(1), scalar(s8, -1)},
     {{"pads", attr_ints({1, 1, 1, 1})}});
}

}  // namespace

std::vector<OpCase> qconv_cases() {
  std::vector<OpCase> v;
  add_conv_integer(v);
  add_qlinear_conv(v);
  return v;
}

}  // namespace kiln::testing
