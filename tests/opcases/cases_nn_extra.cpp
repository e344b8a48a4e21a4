// OpCases: nn extra (see op_case.h). Shapes the shared nn cases (cases_nn.cpp) lack, aimed at
// the Vulkan kernels (runtime/vulkan/ops_conv.cpp, ops_pool.cpp): every conv path (the 1x1 GEMM
// when C and the pixels are multiples of 4, 1x1 convs that run direct, dw / m1p8 / m4p4 / m8p4 /
// m8p8 with channel and pixel counts that no block divides, wide rows of 127 pixels, borders on
// both sides), pools with ceil_mode on odd sizes, global pools over long planes, BatchNormalization
// on a wide tensor and Resize of a 127-wide row. Run on every backend with a kernel for the op.
#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

using Attrs = std::map<std::string, ir::Attribute>;

void add_conv(std::vector<OpCase>& v, const std::string& name, Shape x, Shape w, bool bias,
              Attrs attrs) {
  OpCase c;
  c.name = "Conv/x_" + name;
  c.op = "Conv";
  c.opset = 11;
  c.attrs = std::move(attrs);
  c.inputs = {in_f32(x), const_f32(w)};
  if (bias) c.inputs.push_back(const_f32({w[0]}));
  c.atol = 1e-4;
  c.rtol = 1e-4;
  v.push_back(c);
}

}  // namespace

std::vector<OpCase> nn_extra_cases() {
  std::vector<OpCase> v;
  const Attrs pad1 = {{"pads", attr_ints({1, 1, 1, 1})}};
  // 1x1 GEMM: C and pixels multiples of 4, batch 2; odd ones run the direct kernels.
  add_conv(v, "k1_vec4_c32_m24_8x8_batch2", {2, 32, 8, 8}, {24, 32, 1, 1}, true, {});
  add_conv(v, "k1_vec4_c16_m13_1x4", {1, 16, 1, 4}, {13, 16, 1, 1}, false, {});
  add_conv(v, "k1_scalar_c13_m127_1x13", {1, 13, 1, 13}, {127, 13, 1, 1}, true, {});
  add_conv(v, "k1_1d_c8_m3_127", {1, 8, 127}, {3, 8, 1}, true, {});
  // m8p8 / m8p4 (rows under 6 pixels): 8+ output channels per group, counts no block divides,
  // rows of 1, 13 and 127.
  add_conv(v, "k3_m8p8_c13_m21_13x13", {1, 13, 13, 13}, {21, 13, 3, 3}, true, pad1);
  add_conv(v, "k3_m8p8_c5_m9_1x127_s2", {1, 5, 3, 127}, {9, 5, 3, 3}, false,
           {{"pads", attr_ints({1, 1, 1, 1})}, {"strides", attr_ints({2, 2})}});
  add_conv(v, "k3_m8p4_batch2_c4_m16_1x1", {2, 4, 1, 1}, {16, 4, 3, 3}, true, pad1);
  add_conv(v, "k3_group2_m8p8_c6_m18", {1, 6, 13, 9}, {18, 3, 3, 3}, true,
           {{"group", attr_i(2)}, {"pads", attr_ints({1, 2, 1, 0})}});
  // m4p4: 4..7 output channels per group.
  add_conv(v, "k3_m4p4_c7_m6_d2_127", {1, 7, 5, 127}, {6, 7, 3, 3}, true,
           {{"dilations", attr_ints({1, 3})}, {"pads", attr_ints({1, 3, 1, 3})}});
  add_conv(
      v, "k5_m4p4_group3_c9_m15_s3", {1, 9, 13, 13}, {15, 3, 5, 5}, false,
      {{"group", attr_i(3)}, {"strides", attr_ints({3, 3})}, {"pads", attr_ints({2, 2, 2, 2})}});
  // Pads wider than the kernel's reach: whole blocks of zeros at the borders.
  add_conv(v, "k2_wide_pads_c3_m5", {1, 3, 4, 5}, {5, 3, 2, 2}, true,
           {{"pads", attr_ints({3, 4, 2, 5})}});
  // m1p8: depthwise on a 127-wide row, stride 2, SAME_UPPER; 3-D depthwise.
  add_conv(
      v, "dw_c5_3x127_s2_same_upper", {1, 5, 3, 127}, {5, 1, 3, 3}, true,
      {{"group", attr_i(5)}, {"strides", attr_ints({2, 2})}, {"auto_pad", attr_s("SAME_UPPER")}});
  add_conv(v, "dw_batch3_c13_1x1", {3, 13, 1, 1}, {13, 1, 3, 3}, true,
           {{"group", attr_i(13)}, {"pads", attr_ints({1, 1, 1, 1})}});
  add_conv(v, "dw_3d_c3_k3_s2", {1, 3, 5, 13, 9}, {3, 1, 3, 3, 3}, true,
           {{"group", attr_i(3)},
            {"strides", attr_ints({2, 2, 2})},
            {"pads", attr_ints({1, 1, 1, 1, 1, 1})}});
  // 1-D conv with a 127-wide output and groups of 2 output channels (m1p8).
  add_conv(v, "1d_group4_m8_127", {1, 8, 129}, {8, 2, 3}, true, {{"group", attr_i(4)}});
  // 3-D conv (m8p8).
  add_conv(v, "3d_m8p8_c2_m8", {1, 2, 3, 5, 13}, {8, 2, 2, 3, 3}, true,
           {{"pads", attr_ints({0, 1, 1, 1, 1, 1})}});

  // Pools: ceil_mode with odd sizes (1, 13, 127) and windows running past both ends.
  struct P {
    const char* name;
    Shape x;
    Attrs attrs;
  };
  for (const P& p : std::vector<P>{
           {"1d_k3_s2_ceil_127",
            {1, 3, 127},
            {{"kernel_shape", attr_ints({3})},
             {"strides", attr_ints({2})},
             {"ceil_mode", attr_i(1)}}},
           {"2d_k3_s3_ceil_pad1_13x127",
            {2, 2, 13, 127},
            {{"kernel_shape", attr_ints({3, 3})},
             {"strides", attr_ints({3, 3})},
             {"pads", attr_ints({1, 1, 1, 1})},
             {"ceil_mode", attr_i(1)}}},
           {"2d_k3_1x1_pad1",
            {1, 4, 1, 1},
            {{"kernel_shape", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}}},
       })
    for (const char* op : {"MaxPool", "AveragePool"}) {
      OpCase c;
      c.name = std::string(op) + "/x_" + p.name;
      c.op = op;
      c.opset = 12;
      c.attrs = p.attrs;
      c.inputs = {in_f32(p.x, -2, 2)};
      v.push_back(c);
      if (std::string(op) == "AveragePool") {
        c.name += "_include_pad";
        c.attrs["count_include_pad"] = attr_i(1);
        v.push_back(c);
      }
    }
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    OpCase c;
    c.name = std::string(op) + "/x_1x13x127x9";
    c.op = op;
    c.opset = 11;
    c.inputs = {in_f32({1, 13, 127, 9}, -2, 2)};
    c.atol = 1e-5;
    c.rtol = 1e-5;
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "BatchNormalization/x_2x13x1x127";
    c.op = "BatchNormalization";
    c.opset = 15;
    c.inputs = {in_f32({2, 13, 1, 127}, -3, 3), const_f32({13}, 0.5, 2), const_f32({13}, -1, 1),
                const_f32({13}, -0.5, 0.5), const_f32({13}, 0.1, 2)};
    c.attrs = {{"epsilon", attr_f(1e-3f)}};
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "Resize/x_linear_127_align_corners";
    c.op = "Resize";
    c.opset = 13;
    c.attrs = {{"mode", attr_s("linear")},
               {"coordinate_transformation_mode", attr_s("align_corners")}};
    InputSpec sizes = const_i64({1, 2, 3, 200});
    c.inputs = {in_f32({1, 2, 1, 127}), omitted(), omitted(), sizes};
    v.push_back(c);
  }
  return v;
}

}  // namespace kiln::testing
