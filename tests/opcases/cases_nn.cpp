// OpCases for nn ops: Conv (1-D/2-D/3-D, groups, depthwise, strides, dilations, pads, every
// auto_pad, bias, ResNet- and MobileNet-like layers), MaxPool / AveragePool (every option),
// the global pools, BatchNormalization and Resize / Upsample (every mode the CPU runs). Spatial
// sizes are odd (1, 7, 13) so no work-group or pixel block divides them.
#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

InputSpec const_vals(Shape s, std::vector<double> values) {
  InputSpec i = const_f32(std::move(s));
  i.values = std::move(values);
  return i;
}

InputSpec const_scales(std::vector<double> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return const_vals({n}, std::move(values));
}

using Attrs = std::map<std::string, ir::Attribute>;

void add_conv_cases(std::vector<OpCase>& v) {
  struct C {
    const char* name;
    Shape x, w;
    bool bias;
    Attrs attrs;
  };
  const std::vector<C> convs = {
      {"1d_k3_pad1_bias", {1, 3, 13}, {5, 3, 3}, true, {{"pads", attr_ints({1, 1})}}},
      {"1d_k5_s2_d2",
       {2, 5, 13},
       {4, 5, 5},
       false,
       {{"strides", attr_ints({2})}, {"dilations", attr_ints({2})}, {"pads", attr_ints({2, 3})}}},
      {"1d_size1", {1, 16, 1}, {3, 16, 1}, true, {}},
      {"2d_k3_pad1_c3_m16", {1, 3, 7, 7}, {16, 3, 3, 3}, true, {{"pads", attr_ints({1, 1, 1, 1})}}},
      {"2d_k3_nopad_c1", {1, 1, 13, 13}, {1, 1, 3, 3}, false, {}},
      {"2d_k1_c16_m5_batch2", {2, 16, 7, 7}, {5, 16, 1, 1}, true, {}},
      {"2d_k5_pad2_c5", {1, 5, 13, 13}, {3, 5, 5, 5}, true, {{"pads", attr_ints({2, 2, 2, 2})}}},
      {"2d_k7_s2_pad3_resnet_stem",
       {1, 3, 13, 13},
       {16, 3, 7, 7},
       true,
       {{"strides", attr_ints({2, 2})}, {"pads", attr_ints({3, 3, 3, 3})}}},
      {"2d_k3_s2_pad1_resnet",
       {1, 16, 13, 13},
       {16, 16, 3, 3},
       true,
       {{"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})}}},
      {"2d_k1_s2_resnet_downsample",
       {1, 16, 13, 13},
       {5, 16, 1, 1},
       false,
       {{"strides", attr_ints({2, 2})}}},
      {"2d_dilation2",
       {1, 3, 13, 13},
       {5, 3, 3, 3},
       true,
       {{"dilations", attr_ints({2, 2})}, {"pads", attr_ints({2, 2, 2, 2})}}},
      {"2d_dilation2_stride2_rect",
       {1, 3, 13, 7},
       {5, 3, 3, 2},
       false,
       {{"dilations", attr_ints({2, 1})}, {"strides", attr_ints({2, 1})}}},
      {"2d_asym_pads", {1, 3, 7, 13}, {5, 3, 3, 3}, true, {{"pads", attr_ints({0, 1, 2, 0})}}},
      {"2d_size1_pad1", {1, 3, 1, 1}, {5, 3, 3, 3}, true, {{"pads", attr_ints({1, 1, 1, 1})}}},
      {"2d_size1_k1", {1, 16, 1, 1}, {16, 16, 1, 1}, true, {}},
      {"2d_group2_wide",
       {1, 16, 7, 7},
       {8, 8, 3, 3},
       true,
       {{"group", attr_i(2)}, {"pads", attr_ints({1, 1, 1, 1})}}},
      {"2d_group2_narrow", {1, 4, 7, 7}, {6, 2, 3, 3}, false, {{"group", attr_i(2)}}},
      {"2d_group2_m5_each",
       {2, 6, 13, 7},
       {10, 3, 3, 3},
       true,
       {{"group", attr_i(2)}, {"strides", attr_ints({2, 1})}}},
      {"2d_depthwise_mobilenet",
       {1, 16, 13, 13},
       {16, 1, 3, 3},
       true,
       {{"group", attr_i(16)}, {"pads", attr_ints({1, 1, 1, 1})}}},
      {"2d_depthwise_mobilenet_s2",
       {1, 16, 13, 13},
       {16, 1, 3, 3},
       true,
       {{"group", attr_i(16)}, {"pads", attr_ints({1, 1, 1, 1})}, {"strides", attr_ints({2, 2})}}},
      {"2d_depthwise_wide_rows",
       {1, 3, 7, 29},
       {3, 1, 3, 3},
       true,
       {{"group", attr_i(3)}, {"pads", attr_ints({1, 1, 1, 1})}}},
      {"2d_depthwise_c5_mult2",
       {1, 5, 7, 7},
       {10, 1, 3, 3},
       false,
       {{"group", attr_i(5)}, {"pads", attr_ints({1, 1, 1, 1})}}},
      {"2d_depthwise_k5_d2",
       {2, 3, 13, 13},
       {3, 1, 5, 5},
       true,
       {{"group", attr_i(3)},
        {"dilations", attr_ints({2, 2})},
        {"auto_pad", attr_s("SAME_UPPER")}}},
      {"2d_same_upper_k4_s2",
       {1, 3, 13, 13},
       {5, 3, 4, 4},
       true,
       {{"auto_pad", attr_s("SAME_UPPER")}, {"strides", attr_ints({2, 2})}}},
      {"2d_same_lower_k4_s2",
       {1, 3, 13, 13},
       {5, 3, 4, 4},
       true,
       {{"auto_pad", attr_s("SAME_LOWER")}, {"strides", attr_ints({2, 2})}}},
      {"2d_same_upper_k3", {1, 5, 7, 7}, {5, 5, 3, 3}, false, {{"auto_pad", attr_s("SAME_UPPER")}}},
      {"2d_valid_k3_s2",
       {1, 3, 13, 13},
       {5, 3, 3, 3},
       true,
       {{"auto_pad", attr_s("VALID")}, {"strides", attr_ints({2, 2})}}},
      {"2d_kernel_shape_attr",
       {1, 3, 7, 7},
       {4, 3, 3, 3},
       false,
       {{"kernel_shape", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}}},
      {"3d_k3_pad1_s122",
       {1, 3, 5, 7, 6},
       {4, 3, 3, 3, 3},
       true,
       {{"pads", attr_ints({1, 1, 1, 1, 1, 1})}, {"strides", attr_ints({1, 2, 2})}}},
      {"3d_depthwise",
       {1, 5, 5, 7, 7},
       {5, 1, 3, 3, 3},
       false,
       {{"group", attr_i(5)}, {"auto_pad", attr_s("SAME_LOWER")}}},
      // The GEMM paths (runtime/opencl/ops_conv.cpp): 1x1 convs as one GEMM (pixels not a
      // multiple of the 16-column tile, K = 64 / 96), im2col + GEMM with a long K (C * 9 = 1152),
      // batches, a 1-D and a 3-D conv, and 1x1 with fewer pixels than a tile.
      {"2d_k1_gemm_c64_m37_13x13", {1, 64, 13, 13}, {37, 64, 1, 1}, true, {}},
      {"2d_k1_gemm_batch3_c96_m24_7x9", {3, 96, 7, 9}, {24, 96, 1, 1}, false, {}},
      {"2d_k1_gemm_m1_17x1", {1, 5, 17, 1}, {1, 5, 1, 1}, true, {}},
      {"2d_k3_im2col_c128_m29_7x7",
       {1, 128, 7, 7},
       {29, 128, 3, 3},
       true,
       {{"pads", attr_ints({1, 1, 1, 1})}}},
      {"2d_k3_im2col_batch2_s2_c13",
       {2, 13, 15, 11},
       {17, 13, 3, 3},
       true,
       {{"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 0, 1, 2})}}},
      {"1d_k5_im2col_c32_m8", {2, 32, 127}, {8, 32, 5}, true, {{"pads", attr_ints({2, 2})}}},
      {"3d_k1_gemm_c16_m5", {1, 16, 3, 5, 7}, {5, 16, 1, 1, 1}, true, {}},
      // Depthwise (conv_dw for output rows of 8 pixels or more, else the direct kernel): float8
      // blocks with vector loads for strides 1 and 2, gathers for stride 3, single border
      // pixels; output rows of 6, 21, 22, 33 and 41 pixels.
      {"2d_depthwise_s1_c7_9x33",
       {1, 7, 9, 33},
       {7, 1, 3, 3},
       true,
       {{"group", attr_i(7)}, {"pads", attr_ints({1, 1, 1, 1})}}},
      {"2d_depthwise_s2_batch2_c6_17x41",
       {2, 6, 17, 41},
       {6, 1, 3, 3},
       false,
       {{"group", attr_i(6)}, {"pads", attr_ints({1, 1, 1, 1})}, {"strides", attr_ints({2, 2})}}},
      {"2d_depthwise_s3_k5_c4_16x64",
       {1, 4, 16, 64},
       {4, 1, 5, 5},
       true,
       {{"group", attr_i(4)}, {"pads", attr_ints({2, 2, 2, 2})}, {"strides", attr_ints({3, 3})}}},
      {"2d_depthwise_nopad_c3_8x8", {1, 3, 8, 8}, {3, 1, 3, 3}, true, {{"group", attr_i(3)}}},
      {"1d_depthwise_d3_c5_41",
       {1, 5, 41},
       {5, 1, 3},
       true,
       {{"group", attr_i(5)}, {"dilations", attr_ints({3})}, {"pads", attr_ints({3, 3})}}},
  };
  for (const C& cc : convs) {
    OpCase c;
    c.name = std::string("Conv/") + cc.name;
    c.op = "Conv";
    c.opset = 11;
    c.attrs = cc.attrs;
    c.inputs = {in_f32(cc.x), const_f32(cc.w)};
    if (cc.bias) c.inputs.push_back(const_f32({cc.w[0]}));
    c.atol = 1e-4;
    c.rtol = 1e-4;
    v.push_back(c);
  }
  {
    // Weights and bias as graph inputs (not initializers), opset 1 semantics.
    OpCase c;
    c.name = "Conv/weights_as_inputs_opset1";
    c.op = "Conv";
    c.opset = 1;
    c.inputs = {in_f32({1, 3, 7, 7}), in_f32({5, 3, 3, 3}), in_f32({5})};
    c.attrs = {{"pads", attr_ints({1, 1, 1, 1})}};
    c.atol = 1e-4;
    c.rtol = 1e-4;
    v.push_back(c);
    c.name = "Conv/omitted_bias";
    c.opset = 11;
    c.inputs = {in_f32({1, 3, 7, 7}), const_f32({5, 3, 3, 3}), omitted()};
    v.push_back(c);
  }
  // Float16 storage (the direct kernel built with -DKILN_HALF; float accumulation on both paths,
  // one rounding to half at the end: the two may differ by one half ulp, 2^-10 relative; atol
  // covers outputs near zero).
  struct H {
    const char* name;
    Shape x, w;
    bool bias;
    Attrs attrs;
  };
  for (const H& h : std::vector<H>{
           {"f16_k3_pad1_c16_m13",
            {1, 16, 13, 13},
            {13, 16, 3, 3},
            true,
            {{"pads", attr_ints({1, 1, 1, 1})}}},
           {"f16_k1_c32_m8_batch2", {2, 32, 7, 9}, {8, 32, 1, 1}, false, {}},
           {"f16_depthwise_s2",
            {1, 8, 13, 13},
            {8, 1, 3, 3},
            true,
            {{"group", attr_i(8)},
             {"pads", attr_ints({1, 1, 1, 1})},
             {"strides", attr_ints({2, 2})}}},
           {"f16_group2_1d", {1, 6, 13}, {4, 3, 3}, true, {{"group", attr_i(2)}}},
       }) {
    OpCase c;
    c.name = std::string("Conv/") + h.name;
    c.op = "Conv";
    c.opset = 11;
    c.attrs = h.attrs;
    InputSpec x = in_f32(h.x), w = const_f32(h.w);
    x.dtype = w.dtype = DType::kFloat16;
    c.inputs = {x, w};
    if (h.bias) {
      InputSpec b = const_f32({h.w[0]});
      b.dtype = DType::kFloat16;
      c.inputs.push_back(b);
    }
    c.atol = 1.0 / 1024;
    c.rtol = 1.0 / 512;
    v.push_back(c);
  }
}

void add_pool_cases(std::vector<OpCase>& v) {
  struct P {
    const char* name;
    Shape x;
    int opset;
    Attrs attrs;
  };
  const std::vector<P> pools = {
      {"2d_k3_s2_pad1_resnet",
       {1, 5, 13, 13},
       11,
       {{"kernel_shape", attr_ints({3, 3})},
        {"strides", attr_ints({2, 2})},
        {"pads", attr_ints({1, 1, 1, 1})}}},
      {"2d_k2_s2_floor",
       {2, 3, 7, 7},
       11,
       {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}}},
      {"2d_k2_s2_ceil",
       {2, 3, 7, 7},
       11,
       {{"kernel_shape", attr_ints({2, 2})},
        {"strides", attr_ints({2, 2})},
        {"ceil_mode", attr_i(1)}}},
      {"2d_k3_s2_pad1_ceil",
       {1, 3, 13, 13},
       11,
       {{"kernel_shape", attr_ints({3, 3})},
        {"strides", attr_ints({2, 2})},
        {"pads", attr_ints({1, 1, 1, 1})},
        {"ceil_mode", attr_i(1)}}},
      {"2d_k3_pad1_s1",
       {1, 16, 7, 7},
       11,
       {{"kernel_shape", attr_ints({3, 3})}, {"pads", attr_ints({1, 1, 1, 1})}}},
      {"2d_asym_pads",
       {1, 3, 13, 7},
       11,
       {{"kernel_shape", attr_ints({3, 2})}, {"pads", attr_ints({0, 1, 2, 0})}}},
      {"2d_same_upper_k4_s2",
       {1, 3, 13, 13},
       11,
       {{"kernel_shape", attr_ints({4, 4})},
        {"strides", attr_ints({2, 2})},
        {"auto_pad", attr_s("SAME_UPPER")}}},
      {"2d_same_lower_k4_s2",
       {1, 3, 13, 13},
       11,
       {{"kernel_shape", attr_ints({4, 4})},
        {"strides", attr_ints({2, 2})},
        {"auto_pad", attr_s("SAME_LOWER")}}},
      {"2d_same_upper_k3_s1",
       {1, 5, 7, 7},
       11,
       {{"kernel_shape", attr_ints({3, 3})}, {"auto_pad", attr_s("SAME_UPPER")}}},
      {"2d_valid_k3_s2",
       {1, 3, 13, 13},
       11,
       {{"kernel_shape", attr_ints({3, 3})},
        {"strides", attr_ints({2, 2})},
        {"auto_pad", attr_s("VALID")}}},
      {"2d_k7_global_like", {1, 16, 7, 7}, 11, {{"kernel_shape", attr_ints({7, 7})}}},
      {"2d_size1", {1, 16, 1, 1}, 11, {{"kernel_shape", attr_ints({1, 1})}}},
      {"1d_k3_s2_pad1_ceil",
       {1, 3, 13},
       11,
       {{"kernel_shape", attr_ints({3})},
        {"strides", attr_ints({2})},
        {"pads", attr_ints({1, 1})},
        {"ceil_mode", attr_i(1)}}},
      {"3d_k233_s2",
       {1, 2, 5, 7, 6},
       11,
       {{"kernel_shape", attr_ints({2, 3, 3})}, {"strides", attr_ints({2, 2, 2})}}},
      {"3d_pad1",
       {1, 3, 5, 5, 5},
       11,
       {{"kernel_shape", attr_ints({3, 3, 3})}, {"pads", attr_ints({1, 1, 1, 1, 1, 1})}}},
  };
  for (const char* op : {"MaxPool", "AveragePool"})
    for (const P& pp : pools) {
      OpCase c;
      c.name = std::string(op) + "/" + pp.name;
      c.op = op;
      c.opset = pp.opset;
      c.attrs = pp.attrs;
      c.inputs = {in_f32(pp.x, -2, 2)};
      v.push_back(c);
      if (std::string(op) == "AveragePool") {
        c.name += "_include_pad";
        c.attrs["count_include_pad"] = attr_i(1);
        v.push_back(c);
      }
    }
  // Dilations: MaxPool from opset 10, AveragePool from opset 19.
  const Attrs dil = {{"kernel_shape", attr_ints({3, 3})},
                     {"dilations", attr_ints({2, 2})},
                     {"pads", attr_ints({1, 2, 2, 1})}};
  const Attrs dil_ceil = {{"kernel_shape", attr_ints({2, 3})},
                          {"dilations", attr_ints({2, 2})},
                          {"strides", attr_ints({2, 2})},
                          {"ceil_mode", attr_i(1)}};
  for (const auto& [op, opset] :
       {std::pair<const char*, int>{"MaxPool", 12}, {"AveragePool", 19}}) {
    OpCase c;
    c.op = op;
    c.opset = opset;
    c.inputs = {in_f32({1, 3, 13, 13}, -2, 2)};
    c.name = std::string(op) + "/dilation2";
    c.attrs = dil;
    v.push_back(c);
    c.name = std::string(op) + "/dilation2_s2_ceil";
    c.attrs = dil_ceil;
    c.inputs = {in_f32({1, 3, 13, 7}, -2, 2)};
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "MaxPool/storage_order1_no_indices";
    c.op = "MaxPool";
    c.opset = 12;
    c.attrs = {{"kernel_shape", attr_ints({2, 2})}, {"storage_order", attr_i(1)}};
    c.inputs = {in_f32({1, 3, 7, 7})};
    v.push_back(c);
    c.name = "MaxPool/opset1";
    c.opset = 1;
    c.attrs = {{"kernel_shape", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})}};
    v.push_back(c);
    c.name = "AveragePool/opset7_include_pad";
    c.op = "AveragePool";
    c.opset = 7;
    c.attrs = {{"kernel_shape", attr_ints({3, 3})},
               {"pads", attr_ints({1, 1, 1, 1})},
               {"count_include_pad", attr_i(1)}};
    v.push_back(c);
  }
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"})
    for (const Shape& s : std::vector<Shape>{{1, 3, 1, 1},
                                             {2, 5, 7, 7},
                                             {1, 16, 13},
                                             {1, 3, 5, 7, 6},
                                             {1, 2, 3, 2, 2, 3},
                                             {1, 1, 13, 13}}) {
      OpCase c;
      c.name = std::string(op) + "/" + shape_to_string(s);
      c.op = op;
      c.opset = 11;
      c.inputs = {in_f32(s, -2, 2)};
      v.push_back(c);
    }
}

void add_batch_norm_cases(std::vector<OpCase>& v) {
  struct B {
    Shape x;
    int opset;
  };
  for (const B& b : std::vector<B>{{{2, 3, 7, 7}, 15},
                                   {{1, 16}, 15},
                                   {{1, 5, 13}, 14},
                                   {{1, 3, 5, 7, 6}, 9},
                                   {{2, 1, 13, 13}, 7},
                                   {{1, 16, 1, 1}, 6}}) {
    OpCase c;
    c.name = "BatchNormalization/" + shape_to_string(b.x) + "_opset" + std::to_string(b.opset);
    c.op = "BatchNormalization";
    c.opset = b.opset;
    const int64_t ch = b.x[1];
    c.inputs = {in_f32(b.x, -3, 3), const_f32({ch}, 0.5, 2), const_f32({ch}, -1, 1),
                const_f32({ch}, -0.5, 0.5), const_f32({ch}, 0.1, 2)};
    if (b.opset <= 6) c.attrs["is_test"] = attr_i(1);
    if (b.opset == 9) c.attrs["epsilon"] = attr_f(1e-3f);
    c.atol = 1e-5;
    c.rtol = 1e-5;
    v.push_back(c);
  }
}

void add_resize_cases(std::vector<OpCase>& v) {
  struct R {
    const char* name;
    int opset;
    Shape x;
    std::vector<double> scales;  // empty: use sizes
    std::vector<int64_t> sizes;
    Attrs attrs;
  };
  const Attrs near = {{"mode", attr_s("nearest")}};
  auto with = [](Attrs a, std::initializer_list<std::pair<const std::string, ir::Attribute>> more) {
    for (const auto& kv : more) a[kv.first] = kv.second;
    return a;
  };
  const std::vector<R> rs = {
      {"nearest_x2_asym_floor",
       13,
       {1, 3, 7, 7},
       {1, 1, 2, 2},
       {},
       with(near, {{"coordinate_transformation_mode", attr_s("asymmetric")},
                   {"nearest_mode", attr_s("floor")}})},
      {"nearest_half_pixel_prefer_floor_up", 13, {1, 3, 7, 13}, {}, {1, 3, 13, 20}, near},
      {"nearest_half_pixel_prefer_ceil_down",
       13,
       {1, 5, 13, 13},
       {},
       {1, 5, 7, 5},
       with(near, {{"nearest_mode", attr_s("round_prefer_ceil")}})},
      {"nearest_align_corners_ceil",
       13,
       {1, 3, 7, 7},
       {1, 1, 1.5, 2.5},
       {},
       with(near, {{"coordinate_transformation_mode", attr_s("align_corners")},
                   {"nearest_mode", attr_s("ceil")}})},
      {"nearest_pytorch_half_pixel_out1",
       13,
       {1, 3, 7, 13},
       {},
       {1, 3, 1, 5},
       with(near, {{"coordinate_transformation_mode", attr_s("pytorch_half_pixel")}})},
      {"nearest_tf_half_pixel_for_nn",
       11,
       {1, 3, 7, 7},
       {1, 1, 1.7, 0.6},
       {},
       with(near, {{"coordinate_transformation_mode", attr_s("tf_half_pixel_for_nn")}})},
      {"nearest_rank1", 13, {13}, {2.5}, {}, near},
      {"nearest_rank3_batch_scale", 13, {2, 3, 13}, {2, 1, 0.5}, {}, near},
      {"linear_half_pixel_x2", 13, {1, 3, 7, 7}, {1, 1, 2, 2}, {}, {{"mode", attr_s("linear")}}},
      {"linear_half_pixel_down",
       13,
       {1, 3, 13, 13},
       {},
       {1, 3, 5, 7},
       {{"mode", attr_s("linear")}}},
      {"linear_align_corners",
       13,
       {1, 5, 7, 13},
       {},
       {1, 5, 13, 7},
       {{"mode", attr_s("linear")}, {"coordinate_transformation_mode", attr_s("align_corners")}}},
      {"linear_asymmetric",
       13,
       {2, 3, 7, 7},
       {1, 1, 3, 1.5},
       {},
       {{"mode", attr_s("linear")}, {"coordinate_transformation_mode", attr_s("asymmetric")}}},
      {"linear_pytorch_half_pixel",
       13,
       {1, 16, 7, 1},
       {},
       {1, 16, 13, 1},
       {{"mode", attr_s("linear")},
        {"coordinate_transformation_mode", attr_s("pytorch_half_pixel")}}},
      {"linear_3d", 13, {1, 2, 5, 7, 6}, {1, 1, 2, 1.5, 0.5}, {}, {{"mode", attr_s("linear")}}},
      {"linear_rank1", 13, {13}, {}, {20}, {{"mode", attr_s("linear")}}},
      {"cubic_half_pixel", 13, {1, 3, 7, 7}, {1, 1, 2, 1.5}, {}, {{"mode", attr_s("cubic")}}},
      {"cubic_exclude_outside",
       13,
       {1, 3, 13, 7},
       {},
       {1, 3, 7, 13},
       {{"mode", attr_s("cubic")},
        {"exclude_outside", attr_i(1)},
        {"cubic_coeff_a", attr_f(-0.5f)}}},
      {"linear_antialias_down",
       18,
       {1, 3, 13, 13},
       {1, 1, 0.4, 0.6},
       {},
       {{"mode", attr_s("linear")}, {"antialias", attr_i(1)}}},
      {"linear_axes_sizes",
       18,
       {1, 3, 7, 13},
       {},
       {13, 7},
       {{"mode", attr_s("linear")}, {"axes", attr_ints({-2, 3})}}},
      {"nearest_keep_aspect_not_larger",
       18,
       {1, 3, 7, 13},
       {},
       {10, 10},
       with(near,
            {{"axes", attr_ints({2, 3})}, {"keep_aspect_ratio_policy", attr_s("not_larger")}})},
      {"linear_half_pixel_symmetric",
       19,
       {1, 3, 7, 7},
       {1, 1, 1.7, 0.6},
       {},
       {{"mode", attr_s("linear")},
        {"coordinate_transformation_mode", attr_s("half_pixel_symmetric")}}},
  };
  for (const R& r : rs) {
    OpCase c;
    c.name = std::string("Resize/") + r.name;
    c.op = "Resize";
    c.opset = r.opset;
    c.attrs = r.attrs;
    InputSpec roi = r.opset < 13 ? const_f32({0}) : omitted();
    if (r.scales.empty())
      c.inputs = {in_f32(r.x, -2, 2), roi, omitted(), const_i64(r.sizes)};
    else
      c.inputs = {in_f32(r.x, -2, 2), roi, const_scales(r.scales)};
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "Resize/tf_crop_and_resize_extrapolation";
    c.op = "Resize";
    c.opset = 13;
    c.attrs = {{"mode", attr_s("linear")},
               {"coordinate_transformation_mode", attr_s("tf_crop_and_resize")},
               {"extrapolation_value", attr_f(-7.5f)}};
    c.inputs = {in_f32({1, 3, 7, 7}), const_scales({0, 0, -0.2, 0.3, 1, 1, 0.9, 1.4}), omitted(),
                const_i64({1, 3, 5, 9})};
    v.push_back(c);
    c.name = "Resize/opset10_nearest";
    c.opset = 10;
    c.attrs = {{"mode", attr_s("nearest")}};
    c.inputs = {in_f32({1, 3, 7, 7}), const_scales({1, 1, 2, 0.5})};
    v.push_back(c);
    c.name = "Resize/opset10_linear";
    c.attrs = {{"mode", attr_s("linear")}};
    c.inputs = {in_f32({1, 3, 7, 13}), const_scales({1, 1, 1.5, 2})};
    v.push_back(c);
    c.name = "Resize/empty_roi_opset11_linear";
    c.opset = 11;
    c.inputs = {in_f32({1, 3, 7, 13}), const_f32({0}), const_scales({1, 1, 2, 2})};
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "Upsample/opset9_nearest";
    c.op = "Upsample";
    c.opset = 9;
    c.inputs = {in_f32({1, 3, 7, 7}), const_scales({1, 1, 2, 3})};
    v.push_back(c);
    c.name = "Upsample/opset9_linear";
    c.attrs = {{"mode", attr_s("linear")}};
    c.inputs = {in_f32({1, 3, 7, 13}), const_scales({1, 1, 2, 1.5})};
    v.push_back(c);
    c.name = "Upsample/opset7_attr_scales";
    c.opset = 7;
    c.attrs = {{"mode", attr_s("nearest")}, {"scales", attr_floats({1, 1, 2, 2})}};
    c.inputs = {in_f32({1, 5, 7, 13})};
    v.push_back(c);
  }
}

}  // namespace

std::vector<OpCase> nn_cases() {
  std::vector<OpCase> v;
  add_conv_cases(v);
  add_pool_cases(v);
  add_batch_norm_cases(v);
  add_resize_cases(v);
  return v;
}

}  // namespace kiln::testing
