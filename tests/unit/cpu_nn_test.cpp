// Unit tests for the CPU nn kernels (Conv family, pools, BatchNormalization, LRN, Resize,
// Upsample): hand-computed values, edge cases, and errors that must name the node.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/cpu/executor.h"
#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

using Attrs = AttrMap;

// Runs one node; the graph declares each input with its shape.
Expected<std::vector<Tensor>> run_op(const std::string& op, int opset,
                                     const std::vector<Tensor>& inputs, const Attrs& attrs = {},
                                     int num_outputs = 1, int threads = 2) {
  return run_node(op, opset, inputs, attrs, RunOptions{num_outputs, threads, true});
}

void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& want,
                   double tol = 1e-5) {
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(t.get_as_double(static_cast<int64_t>(i)), want[i], tol) << "element " << i;
}

std::vector<float> iota_f(int n, float start = 0) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}

// --- Conv ------------------------------------------------------------------------------------

TEST(CpuNnConv, Basic2dWithBias) {
  auto r = run_op("Conv", 11,
                  {f32({1, 1, 3, 3}, iota_f(9)), f32({1, 1, 2, 2}, {1, 1, 1, 1}), f32({1}, {1})});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 2, 2}, {9, 13, 21, 25});
}

TEST(CpuNnConv, SameUpperPadding) {
  auto r = run_op("Conv", 11,
                  {f32({1, 1, 3, 3}, iota_f(9)), f32({1, 1, 3, 3}, std::vector<float>(9, 1))},
                  {{"auto_pad", str_attr("SAME_UPPER")}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 3, 3}, {8, 15, 12, 21, 36, 27, 20, 33, 24});
}

TEST(CpuNnConv, StridesAndAsymmetricPads) {
  // 1-D: x = 0..4, kernel [1, 1], pads [1, 0], stride 2: windows (-1,0), (1,2), (3,4).
  auto r = run_op("Conv", 11, {f32({1, 1, 5}, iota_f(5)), f32({1, 1, 2}, {1, 1})},
                  {{"pads", ints_attr({1, 0})}, {"strides", ints_attr({2})}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 3}, {0, 3, 7});
}

TEST(CpuNnConv, GroupedDilated1d) {
  // group 2: channel 0 sums x[i], x[i+2]; channel 1 takes x[i] - x[i+2].
  auto r = run_op("Conv", 11,
                  {f32({1, 2, 4}, {1, 2, 3, 4, 10, 20, 30, 40}), f32({2, 1, 2}, {1, 1, 1, -1})},
                  {{"group", int_attr(2)}, {"dilations", ints_attr({2})}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 2, 2}, {4, 6, -20, -20});
}

TEST(CpuNnConv, ThreeD) {
  auto r =
      run_op("Conv", 11,
             {f32({1, 1, 2, 2, 3}, iota_f(12)), f32({2, 1, 2, 2, 2}, std::vector<float>(16, 1))});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  // Windows over w = (0,1) and (1,2): sums of 8 elements.
  expect_values((*r)[0], {1, 2, 1, 1, 2}, {40, 48, 40, 48});
}

TEST(CpuNnConv, Float16) {
  Tensor x = *Tensor::create(DType::kFloat16, {1, 1, 3});
  Tensor w = *Tensor::create(DType::kFloat16, {1, 1, 2});
  for (int i = 0; i < 3; ++i) x.data<Half>()[i] = Half(static_cast<float>(i + 1));
  w.data<Half>()[0] = Half(0.5f);
  w.data<Half>()[1] = Half(2.0f);
  auto r = run_op("Conv", 11, {x, w});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ((*r)[0].dtype(), DType::kFloat16);
  expect_values((*r)[0], {1, 1, 2}, {4.5, 7});
}

TEST(CpuNnConv, ResultIndependentOfThreadCount) {
  std::vector<float> xv(2 * 4 * 9 * 9), wv(6 * 2 * 3 * 3);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = std::sin(static_cast<float>(i) * 0.37f);
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = std::cos(static_cast<float>(i) * 0.11f);
  Tensor x = f32({2, 4, 9, 9}, xv), w = f32({6, 2, 3, 3}, wv);
  Attrs at{
      {"group", int_attr(2)}, {"pads", ints_attr({1, 0, 2, 1})}, {"strides", ints_attr({2, 1})}};
  auto a = run_op("Conv", 11, {x, w}, at, 1, 1);
  auto b = run_op("Conv", 11, {x, w}, at, 1, 4);
  ASSERT_TRUE(a.has_value() && b.has_value());
  ASSERT_EQ((*a)[0].shape(), (*b)[0].shape());
  for (int64_t i = 0; i < (*a)[0].numel(); ++i)
    ASSERT_EQ((*a)[0].data<float>()[i], (*b)[0].data<float>()[i]);
}

TEST(CpuNnConv, Errors) {
  Tensor x = f32({1, 3, 4, 4}, std::vector<float>(48, 1));
  // Channels not divisible by group.
  expect_node_error(run_op("Conv", 11, {x, f32({2, 1, 1, 1}, {1, 1})}, {{"group", int_attr(2)}}),
                    "divisible");
  // W dim 1 does not match C / group.
  expect_node_error(run_op("Conv", 11, {x, f32({1, 2, 1, 1}, {1, 1})}), "C/group");
  // Kernel larger than the padded input.
  expect_node_error(run_op("Conv", 11, {x, f32({1, 3, 5, 5}, std::vector<float>(75, 1))}),
                    "larger");
  // Zero stride, bad auto_pad, wrong pads length, mismatching kernel_shape.
  Tensor w = f32({1, 3, 2, 2}, std::vector<float>(12, 1));
  expect_node_error(run_op("Conv", 11, {x, w}, {{"strides", ints_attr({0, 1})}}), "stride");
  expect_node_error(run_op("Conv", 11, {x, w}, {{"auto_pad", str_attr("SAME")}}), "auto_pad");
  expect_node_error(run_op("Conv", 11, {x, w}, {{"pads", ints_attr({1, 1})}}), "pads");
  expect_node_error(run_op("Conv", 11, {x, w}, {{"kernel_shape", ints_attr({3, 3})}}),
                    "kernel_shape");
  // Rank mismatch, bad bias, wrong dtype of W.
  expect_node_error(run_op("Conv", 11, {x, f32({1, 3, 2}, std::vector<float>(6, 1))}), "rank");
  expect_node_error(run_op("Conv", 11, {x, w, f32({2}, {1, 1})}), "bias");
  expect_node_error(run_op(
      "Conv", 11, {x, Tensor::from_vector<double>({1, 3, 2, 2}, std::vector<double>(12, 1))}));
  // Rank 2 input and 4 spatial axes.
  expect_node_error(run_op("Conv", 11, {f32({1, 3}, {1, 2, 3}), f32({1, 3}, {1, 2, 3})}), "rank");
  auto r5 = run_op("Conv", 11, {f32({1, 1, 1, 1, 1, 1}, {1}), f32({1, 1, 1, 1, 1, 1}, {1})});
  ASSERT_FALSE(r5.has_value());
  EXPECT_EQ(r5.status().code(), StatusCode::kUnsupported);
}

// --- ConvTranspose ---------------------------------------------------------------------------

TEST(CpuNnConvTranspose, OneD) {
  Tensor x = f32({1, 1, 3}, {1, 2, 3}), w = f32({1, 1, 2}, {1, 1});
  auto r = run_op("ConvTranspose", 11, {x, w});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 4}, {1, 3, 5, 3});
  r = run_op("ConvTranspose", 11, {x, w}, {{"strides", ints_attr({2})}});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 1, 6}, {1, 1, 2, 2, 3, 3});
  r = run_op("ConvTranspose", 11, {x, w},
             {{"strides", ints_attr({2})}, {"output_padding", ints_attr({1})}});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 1, 7}, {1, 1, 2, 2, 3, 3, 0});
  r = run_op("ConvTranspose", 11, {x, w},
             {{"strides", ints_attr({2})}, {"pads", ints_attr({1, 1})}});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 1, 4}, {1, 2, 2, 3});
  // output_shape 5: total padding 1, put at the start (NOTSET).
  r = run_op("ConvTranspose", 11, {x, w},
             {{"strides", ints_attr({2})}, {"output_shape", ints_attr({5})}});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 1, 5}, {1, 2, 2, 3, 3});
}

TEST(CpuNnConvTranspose, GroupsAndBias) {
  // W is C x M/group x k: channel 0 -> output 0 (x3), channel 1 -> output 1 (x4).
  auto r = run_op("ConvTranspose", 11,
                  {f32({1, 2, 1}, {1, 2}), f32({2, 1, 1}, {3, 4}), f32({2}, {10, 20})},
                  {{"group", int_attr(2)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 2, 1}, {13, 28});
}

TEST(CpuNnConvTranspose, Errors) {
  Tensor x = f32({1, 2, 3}, std::vector<float>(6, 1));
  expect_node_error(run_op("ConvTranspose", 11, {x, f32({3, 1, 2}, std::vector<float>(6, 1))}),
                    "dim 0");
  expect_node_error(run_op("ConvTranspose", 11, {x, f32({2, 1, 2}, std::vector<float>(4, 1))},
                           {{"output_padding", ints_attr({1})}}),
                    "output_padding");
  expect_node_error(run_op("ConvTranspose", 11, {x, f32({2, 1, 2}, std::vector<float>(4, 1))},
                           {{"pads", ints_attr({3, 3})}}),
                    "no output");
  expect_node_error(run_op("ConvTranspose", 11, {x, f32({2, 1, 2}, std::vector<float>(4, 1))},
                           {{"group", int_attr(0)}}),
                    "group");
}

// --- ConvInteger / QLinearConv ---------------------------------------------------------------

TEST(CpuNnConvInteger, ZeroPointsPerTensorAndPerChannel) {
  Tensor x = Tensor::from_vector<uint8_t>({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor w = Tensor::from_vector<uint8_t>({2, 1, 1, 1}, {2, 5});
  auto r = run_op(
      "ConvInteger", 10,
      {x, w, Tensor::from_vector<uint8_t>({}, {1}), Tensor::from_vector<uint8_t>({2}, {1, 3})});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ((*r)[0].dtype(), DType::kInt32);
  expect_values((*r)[0], {1, 2, 2, 2}, {0, 1, 2, 3, 0, 2, 4, 6});
  // No zero points, int8 weights, padding counts as zero.
  r = run_op("ConvInteger", 10, {x, Tensor::from_vector<int8_t>({1, 1, 1, 2}, {-1, 1})},
             {{"pads", ints_attr({0, 1, 0, 0})}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 2, 2}, {1, 1, 3, 1});
  // A zero point with the wrong dtype or size.
  expect_node_error(run_op("ConvInteger", 10, {x, w, Tensor::from_vector<int8_t>({}, {1})}),
                    "x_zero_point");
  expect_node_error(
      run_op("ConvInteger", 10, {x, w, Tensor(), Tensor::from_vector<uint8_t>({3}, {1, 1, 1})}),
      "w_zero_point");
}

TEST(CpuNnQLinearConv, RoundsHalfToEvenAndSaturates) {
  Tensor x = Tensor::from_vector<uint8_t>({1, 1, 1, 4}, {1, 3, 5, 20});
  Tensor w = Tensor::from_vector<int8_t>({1, 1, 1, 1}, {1});
  auto u8 = [](uint8_t v) { return Tensor::from_vector<uint8_t>({}, {v}); };
  auto sc = [](float v) { return Tensor::from_vector<float>({}, {v}); };
  // Real values 0.5, 1.5, 2.5, 10 -> 0, 2, 2, 10; + 250 saturates the last at 255.
  auto r =
      run_op("QLinearConv", 10,
             {x, sc(0.5f), u8(0), w, sc(1), Tensor::from_vector<int8_t>({}, {0}), sc(1), u8(250)});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ((*r)[0].dtype(), DType::kUInt8);
  expect_values((*r)[0], {1, 1, 1, 4}, {250, 252, 252, 255});
  // Per-channel weight scales and an int32 bias; int8 output.
  Tensor w2 = Tensor::from_vector<int8_t>({2, 1, 1, 1}, {2, 4});
  r = run_op("QLinearConv", 10,
             {x, sc(1), u8(1), w2, Tensor::from_vector<float>({2}, {1, 0.25f}),
              Tensor::from_vector<int8_t>({2}, {0, 0}), sc(1),
              Tensor::from_vector<int8_t>({}, {-100}), Tensor::from_vector<int32_t>({2}, {10, 0})});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ((*r)[0].dtype(), DType::kInt8);
  // ch0: (x-1)*2 + 10 = 10, 14, 18, 48 -> -90, -86, -82, -52; ch1: (x-1)*4*0.25 = 0, 2, 4, 19.
  expect_values((*r)[0], {1, 2, 1, 4}, {-90, -86, -82, -52, -100, -98, -96, -81});
  expect_node_error(run_op("QLinearConv", 10, {x, sc(1), u8(0), w}), "missing");
}

// --- Pools -----------------------------------------------------------------------------------

TEST(CpuNnMaxPool, IndicesAndStorageOrder) {
  Tensor x = f32({1, 2, 2, 3}, {1, 5, 2, 4, 3, 6, 9, 0, 0, 0, 0, 8});
  auto r = run_op("MaxPool", 12, {x}, {{"kernel_shape", ints_attr({2, 2})}}, 2);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 2, 1, 2}, {5, 6, 9, 8});
  expect_values((*r)[1], {1, 2, 1, 2}, {1, 5, 6, 11});
  r = run_op("MaxPool", 12, {x},
             {{"kernel_shape", ints_attr({2, 2})}, {"storage_order", int_attr(1)}}, 2);
  ASSERT_TRUE(r.has_value());
  // Column-major within each plane: h + w * H, plus the plane offset.
  expect_values((*r)[1], {1, 2, 1, 2}, {2, 5, 6, 11});
}

TEST(CpuNnMaxPool, CeilModeDilationsAndInt8) {
  Tensor x = f32({1, 1, 5}, {1, 2, 3, 4, 5});
  auto r =
      run_op("MaxPool", 12, {x}, {{"kernel_shape", ints_attr({2})}, {"strides", ints_attr({2})}});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 1, 2}, {2, 4});
  r = run_op(
      "MaxPool", 12, {x},
      {{"kernel_shape", ints_attr({2})}, {"strides", ints_attr({2})}, {"ceil_mode", int_attr(1)}});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 1, 3}, {2, 4, 5});
  r = run_op("MaxPool", 12, {x}, {{"kernel_shape", ints_attr({2})}, {"dilations", ints_attr({2})}});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 1, 3}, {3, 4, 5});
  r = run_op("MaxPool", 12, {Tensor::from_vector<int8_t>({1, 1, 3}, {-128, -128, -5})},
             {{"kernel_shape", ints_attr({2})}}, 2);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 2}, {-128, -5});
  expect_values((*r)[1], {1, 1, 2}, {0, 2});
}

TEST(CpuNnMaxPool, Errors) {
  Tensor x = f32({1, 1, 4}, {1, 2, 3, 4});
  expect_node_error(run_op("MaxPool", 12, {x}), "kernel_shape");
  expect_node_error(run_op("MaxPool", 12, {x}, {{"kernel_shape", ints_attr({5})}}), "larger");
  expect_node_error(
      run_op("MaxPool", 12, {x}, {{"kernel_shape", ints_attr({2})}, {"pads", ints_attr({2, 0})}}),
      "smaller than the window");
  expect_node_error(run_op("MaxPool", 12, {x},
                           {{"kernel_shape", ints_attr({2})}, {"storage_order", int_attr(2)}}),
                    "storage_order");
  expect_node_error(run_op("MaxPool", 12, {x}, {{"kernel_shape", ints_attr({0})}}), "kernel");
  expect_node_error(run_op("MaxPool", 12, {x}, {{"kernel_shape", ints_attr({2, 2})}}),
                    "kernel_shape");
}

TEST(CpuNnAveragePool, CountIncludePadAndCeil) {
  Tensor x = f32({1, 1, 3}, {1, 2, 3});
  Attrs at{{"kernel_shape", ints_attr({2})}, {"pads", ints_attr({1, 1})}};
  auto r = run_op("AveragePool", 11, {x}, at);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 4}, {1, 1.5, 2.5, 3});
  at["count_include_pad"] = int_attr(1);
  r = run_op("AveragePool", 11, {x}, at);
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 1, 4}, {0.5, 1.5, 2.5, 1.5});
  r = run_op(
      "AveragePool", 11, {f32({1, 1, 5}, {1, 2, 3, 4, 5})},
      {{"kernel_shape", ints_attr({2})}, {"strides", ints_attr({2})}, {"ceil_mode", int_attr(1)}});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 1, 3}, {1.5, 3.5, 5});
  expect_node_error(run_op("AveragePool", 11, {x},
                           {{"kernel_shape", ints_attr({2})}, {"count_include_pad", int_attr(3)}}),
                    "count_include_pad");
  expect_node_error(run_op("AveragePool", 11, {Tensor::from_vector<int32_t>({1, 1, 2}, {1, 2})},
                           {{"kernel_shape", ints_attr({2})}}));
}

TEST(CpuNnLpPool, PNorm) {
  auto r = run_op("LpPool", 11, {f32({1, 1, 3}, {3, -4, 12})}, {{"kernel_shape", ints_attr({2})}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 2}, {5, std::sqrt(160.0)});
  r = run_op("LpPool", 11, {f32({1, 1, 2}, {1, -2})},
             {{"kernel_shape", ints_attr({2})}, {"p", int_attr(1)}});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 1, 1}, {3});
  expect_node_error(run_op("LpPool", 11, {f32({1, 1, 2}, {1, 2})},
                           {{"kernel_shape", ints_attr({2})}, {"p", int_attr(0)}}),
                    "p ");
}

TEST(CpuNnGlobalPool, AverageMaxLp) {
  Tensor x = f32({1, 2, 2}, {1, 2, 3, 5});
  auto r = run_op("GlobalAveragePool", 11, {x});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 2, 1}, {1.5, 4});
  r = run_op("GlobalMaxPool", 11, {x});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 2, 1}, {2, 5});
  r = run_op("GlobalLpPool", 11, {f32({1, 1, 2, 1}, {3, 4})});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {1, 1, 1, 1}, {5});
  expect_node_error(run_op("GlobalAveragePool", 11, {f32({2, 2}, {1, 2, 3, 4})}), "rank");
}

// --- BatchNormalization / LRN ----------------------------------------------------------------

TEST(CpuNnBatchNorm, Inference) {
  Tensor x = f32({1, 2, 1}, {1, 2});
  auto r = run_op("BatchNormalization", 15,
                  {x, f32({2}, {1, 2}), f32({2}, {0, 1}), f32({2}, {0, 1}), f32({2}, {1, 4})},
                  {{"epsilon", float_attr(0)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 2, 1}, {1, 2});
  // Opset 7 spatial=0: one parameter per (channel, spatial) element.
  r = run_op("BatchNormalization", 7,
             {f32({1, 1, 2}, {3, 3}), f32({1, 2}, {1, 2}), f32({1, 2}, {0, 0}), f32({1, 2}, {1, 2}),
              f32({1, 2}, {4, 1})},
             {{"epsilon", float_attr(0)}, {"spatial", int_attr(0)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 2}, {1, 2});
}

TEST(CpuNnBatchNorm, Errors) {
  Tensor x = f32({1, 2, 1}, {1, 2});
  Tensor c2 = f32({2}, {1, 1});
  auto r = run_op("BatchNormalization", 15, {x, c2, c2, c2, c2}, {{"training_mode", int_attr(1)}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  expect_node_error(run_op("BatchNormalization", 15, {x, f32({3}, {1, 1, 1}), c2, c2, c2}),
                    "scale");
  expect_node_error(run_op("BatchNormalization", 15, {x, c2, c2, c2}), "missing");
}

TEST(CpuNnLrn, AcrossChannels) {
  // alpha / size = 1, beta = 1, bias = 1.
  auto r = run_op("LRN", 13, {f32({1, 3, 1, 1}, {1, 2, 3})},
                  {{"size", int_attr(3)},
                   {"alpha", float_attr(3)},
                   {"beta", float_attr(1)},
                   {"bias", float_attr(1)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 3, 1, 1}, {1.0 / 6, 2.0 / 15, 3.0 / 14});
  expect_node_error(run_op("LRN", 13, {f32({1, 3, 1, 1}, {1, 2, 3})}), "size");
  expect_node_error(run_op("LRN", 13, {f32({1, 3, 1, 1}, {1, 2, 3})}, {{"size", int_attr(0)}}),
                    "size");
}

// --- Resize / Upsample -----------------------------------------------------------------------

TEST(CpuNnResize, NearestHalfPixelUpsample) {
  auto r =
      run_op("Resize", 13, {f32({1, 1, 2, 2}, {1, 2, 3, 4}), Tensor(), f32({4}, {1, 1, 2, 2})});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 4, 4}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

TEST(CpuNnResize, LinearModes) {
  Tensor x = f32({2}, {0, 10});
  Tensor sizes4 = Tensor::from_vector<int64_t>({1}, {4});
  auto r = run_op("Resize", 13, {x, Tensor(), Tensor(), sizes4}, {{"mode", str_attr("linear")}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {4}, {0, 2.5, 7.5, 10});
  r = run_op("Resize", 13, {x, Tensor(), Tensor(), Tensor::from_vector<int64_t>({1}, {3})},
             {{"mode", str_attr("linear")},
              {"coordinate_transformation_mode", str_attr("align_corners")}});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {3}, {0, 5, 10});
  r = run_op(
      "Resize", 13, {x, Tensor(), Tensor(), sizes4},
      {{"mode", str_attr("linear")}, {"coordinate_transformation_mode", str_attr("asymmetric")}});
  ASSERT_TRUE(r.has_value());
  expect_values((*r)[0], {4}, {0, 5, 10, 10});
}

TEST(CpuNnResize, TfCropAndResizeExtrapolates) {
  auto r = run_op("Resize", 13,
                  {f32({3}, {0, 10, 20}), f32({2}, {0.5f, 1.5f}), Tensor(),
                   Tensor::from_vector<int64_t>({1}, {3})},
                  {{"mode", str_attr("linear")},
                   {"coordinate_transformation_mode", str_attr("tf_crop_and_resize")},
                   {"extrapolation_value", float_attr(7)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {3}, {10, 20, 7});
}

TEST(CpuNnResize, CubicKeepsConstantsAndAntialias) {
  auto r = run_op("Resize", 13, {f32({4}, {3, 3, 3, 3}), Tensor(), f32({1}, {1.5f})},
                  {{"mode", str_attr("cubic")}, {"exclude_outside", int_attr(1)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {6}, {3, 3, 3, 3, 3, 3});
  // Antialiased linear downsampling by 2 widens the triangle filter to 4 taps.
  r = run_op("Resize", 18, {f32({4}, {0, 1, 2, 3}), Tensor(), f32({1}, {0.5f})},
             {{"mode", str_attr("linear")}, {"antialias", int_attr(1)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {2}, {0.625, 2.375});
}

TEST(CpuNnResize, AxesAndKeepAspectRatio) {
  Tensor x = f32({1, 1, 2, 4}, iota_f(8));
  auto r = run_op("Resize", 18, {x, Tensor(), f32({1}, {0.5f})}, {{"axes", ints_attr({-1})}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  // half_pixel: x = 0.5, 2.5 -> round_prefer_floor -> 0, 2.
  expect_values((*r)[0], {1, 1, 2, 2}, {0, 2, 4, 6});
  r = run_op("Resize", 18, {x, Tensor(), Tensor(), Tensor::from_vector<int64_t>({2}, {4, 4})},
             {{"axes", ints_attr({2, 3})}, {"keep_aspect_ratio_policy", str_attr("not_larger")}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 2, 4}, {0, 1, 2, 3, 4, 5, 6, 7});
}

TEST(CpuNnResize, IntegerAndOpset10) {
  auto r =
      run_op("Resize", 10, {Tensor::from_vector<int64_t>({1, 3}, {7, 8, 9}), f32({2}, {1, 2})});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 6}, {7, 7, 8, 8, 9, 9});
}

TEST(CpuNnResize, Errors) {
  Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor sizes = Tensor::from_vector<int64_t>({4}, {1, 1, 4, 4});
  expect_node_error(run_op("Resize", 13, {x, Tensor(), f32({4}, {1, 1, 2, 2}), sizes}),
                    "exactly one");
  expect_node_error(run_op("Resize", 13, {x}), "exactly one");
  expect_node_error(run_op("Resize", 13, {x, Tensor(), f32({3}, {1, 2, 2})}), "scales");
  expect_node_error(run_op("Resize", 13, {x, Tensor(), f32({4}, {1, 1, -2, 2})}), "scale");
  expect_node_error(
      run_op("Resize", 13, {x, Tensor(), f32({4}, {1, 1, 2, 2})}, {{"mode", str_attr("area")}}),
      "mode");
  expect_node_error(run_op("Resize", 13, {x, Tensor(), f32({4}, {1, 1, 2, 2})},
                           {{"coordinate_transformation_mode", str_attr("tf_half_pixel_for_nn")}}),
                    "coordinate_transformation_mode");
  expect_node_error(
      run_op("Resize", 18, {x, Tensor(), f32({2}, {2, 2})}, {{"axes", ints_attr({2, 2})}}),
      "twice");
  expect_node_error(
      run_op("Resize", 18, {x, Tensor(), f32({2}, {2, 2})}, {{"axes", ints_attr({2, 4})}}), "axis");
  expect_node_error(
      run_op("Resize", 13,
             {x, Tensor(), Tensor(), Tensor::from_vector<int64_t>({4}, {1, 1, -1, 2})}),
      "sizes");
}

TEST(CpuNnUpsample, NearestAndLinear) {
  Tensor x = f32({1, 1, 1, 2}, {1, 2});
  auto r = run_op("Upsample", 9, {x, f32({4}, {1, 1, 2, 2})});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 2, 4}, {1, 1, 2, 2, 1, 1, 2, 2});
  r = run_op("Upsample", 7, {x},
             {{"scales", floats_attr({1, 1, 1, 2})}, {"mode", str_attr("linear")}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_values((*r)[0], {1, 1, 1, 4}, {1, 1.5, 2, 2});
  expect_node_error(run_op("Upsample", 7, {x}, {{"scales", floats_attr({1, 1, 0.5f, 1})}}), ">= 1");
  expect_node_error(run_op("Upsample", 7, {x}), "scales");
}

}  // namespace
}  // namespace kiln::cpu
