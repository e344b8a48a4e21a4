// OpCases for the int8 ops with device kernels: QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, MatMulInteger and the com.microsoft MatMulIntegerToFloat /
// DynamicQuantizeMatMul, and QLinearMatMul. Integer outputs (and DynamicQuantizeLinear's scale)
// must be bit-exact (atol = rtol = 0); the float outputs of the contrib ops follow the CPU's order
// (rtol 1e-6). Sizes are odd (1, 13, 127, K not a multiple of any tile), zero points 0 / 128 / 255
// and per column, and the saturation / int32 wrap-around case (A = 255, B = -128, K = 70001).
#include <limits>
#include <string>
#include <vector>

#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

const char* kMs = "com.microsoft";

InputSpec in_q(DType t, Shape s, bool constant = false) {
  InputSpec i;
  i.dtype = t;
  i.shape = std::move(s);
  i.lo = t == DType::kInt8 ? -128 : 0;
  i.hi = t == DType::kInt8 ? 128 : 256;
  i.constant = constant;
  return i;
}
InputSpec in_u8(Shape s, bool constant = false) {
  return in_q(DType::kUInt8, std::move(s), constant);
}
InputSpec in_s8(Shape s, bool constant = false) {
  return in_q(DType::kInt8, std::move(s), constant);
}
InputSpec vals(InputSpec s, std::vector<double> v) {
  s.values = std::move(v);
  return s;
}
// A scalar (shape []) constant of dtype t.
InputSpec scalar(DType t, double v) {
  InputSpec i;
  i.dtype = t;
  i.values = {v};
  i.constant = true;
  return i;
}

OpCase make(std::string name, std::string op, int opset, std::vector<InputSpec> in,
            std::map<std::string, ir::Attribute> attrs = {}) {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.opset = opset;
  c.inputs = std::move(in);
  c.attrs = std::move(attrs);
  c.atol = 0;
  c.rtol = 0;
  return c;
}

OpCase ms(std::string name, std::string op, std::vector<InputSpec> in) {
  OpCase c = make(std::move(name), std::move(op), 1, std::move(in));
  c.domain = kMs;
  c.rtol = 1e-6;
  return c;
}

void add_quantize(std::vector<OpCase>& v) {
  const DType u8 = DType::kUInt8, s8 = DType::kInt8;
  // Per tensor, zero points 0 / 128 / 255 and none.
  v.push_back(make("QuantizeLinear/u8_zp128_13x127", "QuantizeLinear", 13,
                   {in_f32({13, 127}, -3, 3), const_f32({}, 0.01, 0.03), scalar(u8, 128)}));
  v.push_back(make("QuantizeLinear/u8_zp255_127", "QuantizeLinear", 13,
                   {in_f32({127}, -3, 1), const_f32({}, 0.01, 0.03), scalar(u8, 255)}));
  v.push_back(make("QuantizeLinear/u8_zp0_1", "QuantizeLinear", 10,
                   {in_f32({1}, 0, 2), const_f32({}, 0.01, 0.03), scalar(u8, 0)}));
  v.push_back(make("QuantizeLinear/no_zp_opset10_13", "QuantizeLinear", 10,
                   {in_f32({13}, -1, 3), const_f32({}, 0.01, 0.03)}));
  // Ties round half to even, saturation both ways, NaN / inf.
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> ties = {-2.25, -1.75, -1.25, -0.75, -0.25, 0.25,   0.75, 1.25,
                                    2.5,   3.5,   1000,  -1000, 63.75, -64.25, inf,  -inf};
  v.push_back(make("QuantizeLinear/s8_ties_saturate", "QuantizeLinear", 13,
                   {vals(in_f32({16}), ties), scalar(DType::kFloat32, 0.5), scalar(s8, -3)}));
  v.push_back(make("QuantizeLinear/u8_ties_saturate", "QuantizeLinear", 13,
                   {vals(in_f32({2, 16}), ties), scalar(DType::kFloat32, 0.5), scalar(u8, 7)}));
  // Per axis, negative axes.
  v.push_back(make("QuantizeLinear/s8_axis-2_2x13x5", "QuantizeLinear", 13,
                   {in_f32({2, 13, 5}, -2, 2), const_f32({13}, 0.01, 0.05),
                    vals(in_s8({13}, true), {-20, 0, 5, 17, -128, 127, 3})},
                   {{"axis", attr_i(-2)}}));
  v.push_back(make("QuantizeLinear/u8_axis0_127", "QuantizeLinear", 13,
                   {in_f32({127}, -2, 2), const_f32({127}, 0.01, 0.05), in_u8({127}, true)},
                   {{"axis", attr_i(0)}}));
  v.push_back(make("QuantizeLinear/u8_axis-1_3x1x13_zp_input", "QuantizeLinear", 19,
                   {in_f32({3, 1, 13}, -2, 2), const_f32({13}, 0.01, 0.05), in_u8({13})},
                   {{"axis", attr_i(-1)}}));
  // opset 21 output_dtype without a zero point.
  v.push_back(make("QuantizeLinear/output_dtype_int8_opset21", "QuantizeLinear", 21,
                   {in_f32({13, 7}, -2, 2), const_f32({}, 0.01, 0.03)},
                   {{"output_dtype", attr_i(3)}}));
}

void add_dequantize(std::vector<OpCase>& v) {
  const DType u8 = DType::kUInt8, s8 = DType::kInt8;
  v.push_back(make("DequantizeLinear/u8_zp128_13x127", "DequantizeLinear", 13,
                   {in_u8({13, 127}), const_f32({}, 0.01, 0.03), scalar(u8, 128)}));
  v.push_back(make("DequantizeLinear/u8_zp255_1", "DequantizeLinear", 10,
                   {in_u8({1}), const_f32({}, 0.01, 0.03), scalar(u8, 255)}));
  v.push_back(make("DequantizeLinear/s8_no_zp_127", "DequantizeLinear", 10,
                   {in_s8({127}), const_f32({}, 0.01, 0.03)}));
  v.push_back(make("DequantizeLinear/s8_axis-1_3x1x13", "DequantizeLinear", 13,
                   {in_s8({3, 1, 13}), const_f32({13}, 0.001, 0.5), in_s8({13}, true)},
                   {{"axis", attr_i(-1)}}));
  v.push_back(make("DequantizeLinear/u8_axis-3_5x2x7", "DequantizeLinear", 19,
                   {in_u8({5, 2, 7}), const_f32({5}, 0.001, 0.5), in_u8({5})},
                   {{"axis", attr_i(-3)}}));
  v.push_back(make("DequantizeLinear/s8_zp-128_gather_table", "DequantizeLinear", 13,
                   {in_s8({31, 13}), const_f32({}, 0.01, 0.03), scalar(s8, -128)}));
}

void add_dynamic(std::vector<OpCase>& v) {
  auto dql = [&](std::string name, InputSpec x) {
    OpCase c = make("DynamicQuantizeLinear/" + std::move(name), "DynamicQuantizeLinear", 11,
                    {std::move(x)});
    c.num_outputs = 3;
    v.push_back(std::move(c));
  };
  dql("13x127", in_f32({13, 127}, -2, 5));
  dql("1", in_f32({1}, -1, 1));
  dql("positive_127", in_f32({127}, 0.5, 3));       // min adjusted to 0
  dql("negative_13", in_f32({13}, -3, -0.5));       // max adjusted to 0, zero point 255
  dql("zeros_13", vals(in_f32({13}), {0.0}));       // scale 1, zero point 0
  dql("large_3x20487", in_f32({3, 20487}, -7, 3));  // several partial ranges
  // More elements than 64 x 65535: lavapipe ends loops after 65535 iterations.
  dql("large_4300007", in_f32({4300007}, -7, 3));
  dql("ties", vals(in_f32({16}), {-1.0, 254.0, 0.5, 1.5, 2.5, 3.5, 100.5, 101.5}));
}

void add_matmul_integer(std::vector<OpCase>& v) {
  const DType u8 = DType::kUInt8, s8 = DType::kInt8;
  auto mmi = [&](std::string name, std::vector<InputSpec> in) {
    v.push_back(make("MatMulInteger/" + std::move(name), "MatMulInteger", 10, std::move(in)));
  };
  mmi("u8u8_zp128_0_13x127x13",
      {in_u8({13, 127}), in_u8({127, 13}, true), scalar(u8, 128), scalar(u8, 0)});
  mmi("u8s8_1x127x127", {in_u8({1, 127}), in_s8({127, 127}, true)});
  mmi("s8u8_zp255_127x33x17", {in_s8({127, 33}), in_u8({33, 17}), scalar(s8, -5), scalar(u8, 255)});
  mmi("s8s8_13x61x16", {in_s8({13, 61}), in_s8({61, 16}, true), scalar(s8, 3), scalar(s8, -7)});
  mmi("u8s8_per_column_zp_13x33x37",
      {in_u8({13, 33}), in_s8({33, 37}, true), scalar(u8, 128), in_s8({37}, true)});
  mmi("u8u8_per_column_zp_1xN_5x19x20",
      {in_u8({5, 19}), in_u8({19, 20}), scalar(u8, 0), in_u8({1, 20}, true)});
  mmi("u8u8_N1_13x127x1", {in_u8({13, 127}), in_u8({127, 1}), scalar(u8, 128), scalar(u8, 128)});
  mmi("batched_2x3x13x33_by_33x20", {in_u8({2, 3, 13, 33}), in_s8({33, 20}, true)});
  mmi("broadcast_3x1x7x19_by_1x4x19x17",
      {in_s8({3, 1, 7, 19}), in_u8({1, 4, 19, 17}), scalar(s8, 1), in_u8({17}, true)});
  mmi("vector_a_19_by_19x5", {in_u8({19}), in_u8({19, 5}), scalar(u8, 128), omitted()});
  mmi("vector_b_3x19_by_19", {in_s8({3, 19}), in_s8({19})});
  mmi("K1_13x1x33", {in_u8({13, 1}), in_s8({1, 33}), omitted(), in_s8({33}, true)});
  // K < 16 and N < 16: OpenCL's general 4 x 4 kernel; K < 16, N >= 16: its 16-column one.
  mmi("small_5x7x3", {in_u8({5, 7}), in_s8({7, 3}), scalar(u8, 77), in_s8({3}, true)});
  mmi("narrow_K_13x9x37", {in_s8({13, 9}), in_u8({9, 37}, true), scalar(s8, 5), in_u8({37}, true)});
  // K and N multiples of 4: Vulkan's packed-word variant.
  mmi("words_u8s8_per_column_zp_13x64x20",
      {in_u8({13, 64}), in_s8({64, 20}, true), scalar(u8, 131), in_s8({20}, true)});
  mmi("words_s8u8_broadcast_3x1x5x32_by_2x32x12",
      {in_s8({3, 1, 5, 32}), in_u8({2, 32, 12}), scalar(s8, -9), scalar(u8, 200)});
  mmi("words_saturation_K70000",
      {vals(in_u8({2, 70000}), {255}), vals(in_s8({70000, 8}, true), {-128})});
  // The largest products, 255 x 255 on every k, over several 4096-deep chunks of OpenCL's exact
  // float partial sums.
  mmi("max_product_K8200", {vals(in_u8({5, 8200}), {255}), vals(in_s8({8200, 19}, true), {127}),
                            scalar(u8, 0), scalar(s8, -128)});
  // 255 x -128 over K = 70001: the int32 sum wraps around exactly as the CPU's.
  mmi("saturation_u8_255_by_s8_-128_K70001",
      {vals(in_u8({2, 70001}), {255}), vals(in_s8({70001, 17}, true), {-128})});
  mmi("saturation_zp_s8_K4099",
      {vals(in_s8({3, 4099}), {127, -128}), vals(in_s8({4099, 18}), {-128}), scalar(s8, -128),
       scalar(s8, 127)});
}

// QLinearMatMul: MatMulInteger's GEMM, then y = saturate(rint(C * a_scale * b_scale / y_scale) +
// y_zp); outputs spread over the whole 8-bit range with some saturation both ways.
void add_qlinear_matmul(std::vector<OpCase>& v) {
  const DType u8 = DType::kUInt8, s8 = DType::kInt8;
  auto qlm = [&](std::string name, std::vector<InputSpec> in, int opset = 10) {
    v.push_back(make("QLinearMatMul/" + std::move(name), "QLinearMatMul", opset, std::move(in)));
  };
  auto f32 = [](double x) { return vals(const_f32({}), {x}); };
  qlm("u8u8_13x127x13",
      {in_u8({13, 127}), const_f32({}, 0.01, 0.02), scalar(u8, 128), in_u8({127, 13}, true),
       const_f32({}, 0.002, 0.006), scalar(u8, 120), const_f32({}, 0.03, 0.06), scalar(u8, 128)});
  qlm("s8s8_per_column_13x61x37",
      {in_s8({13, 61}), const_f32({}, 0.01, 0.02), scalar(s8, 3), in_s8({61, 37}, true),
       const_f32({37}, 0.001, 0.01), in_s8({37}, true), const_f32({}, 0.02, 0.05), scalar(s8, -5)});
  qlm("u8s8_to_s8_1x127x127",
      {in_u8({1, 127}), const_f32({}, 0.01, 0.02), scalar(u8, 131), in_s8({127, 127}, true),
       const_f32({}, 0.002, 0.006), scalar(s8, 0), const_f32({}, 0.03, 0.06), scalar(s8, 1)},
      21);
  qlm("s8u8_to_u8_per_column_1xN_5x19x20",
      {in_s8({5, 19}), const_f32({}, 0.01, 0.02), scalar(s8, -9), in_u8({19, 20}),
       const_f32({1, 20}, 0.001, 0.01), in_u8({1, 20}, true), const_f32({}, 0.005, 0.02),
       scalar(u8, 100)});
  qlm("broadcast_3x1x7x19_by_1x4x19x17",
      {in_s8({3, 1, 7, 19}), const_f32({}, 0.01, 0.02), scalar(s8, 1), in_u8({1, 4, 19, 17}),
       const_f32({17}, 0.001, 0.01), in_u8({17}, true), const_f32({}, 0.01, 0.03), scalar(s8, 0)});
  qlm("small_5x7x3",
      {in_u8({5, 7}), const_f32({}, 0.01, 0.02), scalar(u8, 77), in_s8({7, 3}),
       const_f32({3}, 0.01, 0.02), in_s8({3}, true), const_f32({}, 0.01, 0.02), scalar(u8, 128)});
  qlm("narrow_K_13x9x37_runtime_scales",
      {in_s8({13, 9}), in_f32({}, 0.01, 0.02), scalar(s8, 5), in_u8({9, 37}, true),
       in_f32({37}, 0.01, 0.03), in_u8({37}, true), in_f32({}, 0.01, 0.02), scalar(s8, -3)});
  // Multiplier 0.5: every odd C is a tie, rounded half to even.
  // Small products (a - 128 in [-3, 3], b in [-2, 2]) so that the ties are not saturated.
  auto narrow = [](InputSpec i, double lo, double hi) {
    i.lo = lo;
    i.hi = hi;
    return i;
  };
  qlm("ties_13x33x16",
      {narrow(in_u8({13, 33}), 125, 132), f32(0.5), scalar(u8, 128),
       narrow(in_s8({33, 16}, true), -2, 3), f32(1), scalar(s8, 0), f32(1), scalar(u8, 128)});
  qlm("ties_s8_out_5x20x19",
      {narrow(in_s8({5, 20}), -3, 4), f32(0.25), scalar(s8, 0), narrow(in_s8({20, 19}), -3, 4),
       f32(2), scalar(s8, 1), f32(1), scalar(s8, -1)});
  // Tiny and huge multipliers, negative scales, y_scale 0 (infinite multiplier; 0 * inf is NaN).
  qlm("tiny_multiplier_4x64x8", {in_u8({4, 64}), f32(1e-30), scalar(u8, 128), in_s8({64, 8}),
                                 f32(1e-10), scalar(s8, 0), f32(3.0), scalar(u8, 9)});
  qlm("huge_multiplier_4x17x8", {in_u8({4, 17}), f32(1e20), scalar(u8, 128), in_s8({17, 8}),
                                 f32(1e10), scalar(s8, 0), f32(1e-5), scalar(s8, 2)});
  qlm("negative_scale_13x20x9",
      {in_s8({13, 20}), f32(-0.02), scalar(s8, 0), in_s8({20, 9}), const_f32({9}, -0.01, 0.01),
       in_s8({9}, true), f32(0.01), scalar(s8, 0)});
  qlm("zero_y_scale_3x16x5", {vals(in_u8({3, 16}), {128, 129, 130}), f32(0.1), scalar(u8, 128),
                              in_s8({16, 5}), f32(0.1), scalar(s8, 0), f32(0.0), scalar(u8, 7)});
  // |C| near 2^31 and a multiplier of about 1e-7: C times the multiplier's significand needs
  // more than 53 bits (the double rounding the devices emulate), the result is not saturated.
  qlm("wrap_K70001_small_multiplier",
      {vals(in_u8({2, 70001}), {255}), f32(1e-4), scalar(u8, 0),
       vals(in_s8({70001, 17}, true), {-128}), f32(1e-4), scalar(s8, 0), f32(0.1), scalar(u8, 0)});
  // 255 x -128 over K = 70001: the int32 products wrap around, then saturate.
  qlm("wrap_K70001",
      {vals(in_u8({2, 70001}), {255}), f32(0.01), scalar(u8, 0),
       vals(in_s8({70001, 17}, true), {-128}), f32(0.01), scalar(s8, 0), f32(0.5), scalar(s8, 0)});
}

void add_contrib(std::vector<OpCase>& v) {
  const DType u8 = DType::kUInt8;
  v.push_back(ms(
      "MatMulIntegerToFloat/u8s8_all_inputs_13x64x40", "MatMulIntegerToFloat",
      {in_u8({13, 64}), in_s8({64, 40}, true), const_f32({}, 0.01, 0.02),
       const_f32({40}, 0.001, 0.01), scalar(u8, 128), in_s8({40}, true), const_f32({40}, -1, 1)}));
  v.push_back(ms("MatMulIntegerToFloat/u8u8_scalar_scale_2x7x33x13", "MatMulIntegerToFloat",
                 {in_u8({2, 7, 33}), in_u8({33, 13}), const_f32({}, 0.01, 0.02),
                  const_f32({}, 0.001, 0.01), omitted(), scalar(u8, 3), omitted()}));
  v.push_back(ms("MatMulIntegerToFloat/s8s8_no_optional_1x127x17", "MatMulIntegerToFloat",
                 {in_s8({1, 127}), in_s8({127, 17}, true), const_f32({}, 0.01, 0.02),
                  const_f32({17}, 0.001, 0.01)}));
  v.push_back(ms("DynamicQuantizeMatMul/s8_per_column_2x13x64x33", "DynamicQuantizeMatMul",
                 {in_f32({2, 13, 64}, -3, 2), in_s8({64, 33}, true), const_f32({33}, 0.001, 0.01),
                  in_s8({33}, true), const_f32({33}, -1, 1)}));
  v.push_back(ms("DynamicQuantizeMatMul/u8_scalar_1x127x5", "DynamicQuantizeMatMul",
                 {in_f32({1, 127}, -1, 4), in_u8({127, 5}, true), const_f32({}, 0.001, 0.01),
                  scalar(u8, 128)}));
}

}  // namespace

std::vector<OpCase> quant_cases() {
  std::vector<OpCase> v;
  add_quantize(v);
  add_dequantize(v);
  add_dynamic(v);
  add_matmul_integer(v);
  add_qlinear_matmul(v);
  add_contrib(v);
  return v;
}

}  // namespace kiln::testing
