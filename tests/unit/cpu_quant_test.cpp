// Unit tests for the CPU quantization kernels (runtime/cpu/ops/quant*.cpp): QuantizeLinear,
// DequantizeLinear, DynamicQuantizeLinear, MatMulInteger and QLinearMatMul with hand-computed
// results (round half to even, saturation, zero points at the type's extremes, odd K, int32
// wrap-around), opset rules, and the errors hostile models must produce.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/cpu/executor.h"
#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

// ---- QuantizeLinear ----------------------------------------------------------------------------

TEST(CpuQuantizeLinear, RoundHalfEvenAndSaturateUint8) {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor x = f32({9}, {0.5f, 1.5f, 2.5f, -0.5f, 254.5f, 300, -300, inf, -inf});
  // No zero point: uint8, zp 0.
  expect_result(run_op("QuantizeLinear", 10, {x, Tensor::scalar<float>(1)}), DType::kUInt8, {9},
                {0, 2, 2, 0, 254, 255, 0, 255, 0});
  // Scale 2, zp 128: x / 2 = 0.25, 0.75, 1.25, -0.25, 127.25, 150, -150.
  expect_result(
      run_op("QuantizeLinear", 13, {x, Tensor::scalar<float>(2), Tensor::scalar<uint8_t>(128)}),
      DType::kUInt8, {9}, {128, 129, 129, 128, 255, 255, 0, 255, 0});
}

TEST(CpuQuantizeLinear, Int8ExtremeZeroPoints) {
  const Tensor x = f32({4}, {0, 1, 2.5f, -3});
  expect_result(
      run_op("QuantizeLinear", 13, {x, Tensor::scalar<float>(1), Tensor::scalar<int8_t>(127)}),
      DType::kInt8, {4}, {127, 127, 127, 124});
  expect_result(
      run_op("QuantizeLinear", 13, {x, Tensor::scalar<float>(1), Tensor::scalar<int8_t>(-128)}),
      DType::kInt8, {4}, {-128, -127, -126, -128});
  // int32 input (float64 division).
  expect_result(
      run_op("QuantizeLinear", 13,
             {i32({3}, {3, -5, 1000}), Tensor::scalar<float>(2), Tensor::scalar<int8_t>(0)}),
      DType::kInt8, {3}, {2, -2, 127});
}

TEST(CpuQuantizeLinear, PerAxisAndBlocked) {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  // axis 1: scales [1, 2, 4], zero points [0, 10, 20]: x / s = 1, 1, 0.75 | 4, 2.5, 1.5.
  expect_result(run_op("QuantizeLinear", 13, {x, f32({3}, {1, 2, 4}), u8({3}, {0, 10, 20})}),
                DType::kUInt8, {2, 3}, {1, 11, 21, 4, 12, 22});
  // axis 0 (negative): scales [1, 2].
  expect_result(run_op("QuantizeLinear", 13, {x, f32({2}, {1, 2}), u8({2}, {0, 0})},
                       {{"axis", int_attr(-2)}}),
                DType::kUInt8, {2, 3}, {1, 2, 3, 2, 2, 3});
  // Blocks of 2 along axis 1 (last block partial): scale [2, 2].
  expect_result(
      run_op("QuantizeLinear", 21, {x, f32({2, 2}, {1, 10, 2, 0.5f}), u8({2, 2}, {0, 100, 0, 0})},
             {{"axis", int_attr(1)}, {"block_size", int_attr(2)}}),
      DType::kUInt8, {2, 3}, {1, 2, 100, 2, 2, 12});
}

TEST(CpuQuantizeLinear, SixteenBitAndOutputDtype) {
  const Tensor x = f32({3}, {1, -40000, 40000});
  expect_result(
      run_op("QuantizeLinear", 21, {x, Tensor::scalar<float>(1), Tensor::scalar<int16_t>(-1)}),
      DType::kInt16, {3}, {0, -32768, 32767});
  expect_result(run_op("QuantizeLinear", 21, {x, Tensor::scalar<float>(1)},
                       {{"output_dtype", int_attr(4)}}),  // uint16
                DType::kUInt16, {3}, {1, 0, 40000});
  expect_result(run_op("QuantizeLinear", 21, {x, Tensor::scalar<float>(1)},
                       {{"output_dtype", int_attr(3)}}),  // int8
                DType::kInt8, {3}, {1, -128, 127});
}

TEST(CpuQuantizeLinear, Float16DividesInHalf) {
  // float16 x and scale (opset 19): the quotient rounds half to even.
  auto r = run_op("QuantizeLinear", 19,
                  {Tensor::from_vector<Half>({2}, {Half(2.5f), Half(3.5f)}),
                   Tensor::from_vector<Half>({}, {Half(1.0f)}), Tensor::scalar<uint8_t>(0)});
  expect_result(r, DType::kUInt8, {2}, {2, 4});
}

TEST(CpuQuantizeLinear, Errors) {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  // Per-axis scales before opset 13.
  expect_node_error(run_op("QuantizeLinear", 10, {x, f32({3}, {1, 2, 3})}), "scalar");
  // Wrong per-axis length, bad axis, 2-D scale without block_size.
  expect_node_error(run_op("QuantizeLinear", 13, {x, f32({2}, {1, 2})}), "axis dim");
  expect_node_error(run_op("QuantizeLinear", 13, {x, f32({3}, {1, 2, 3})}, {{"axis", int_attr(2)}}),
                    "axis");
  expect_node_error(run_op("QuantizeLinear", 13, {x, f32({2, 3}, {1, 2, 3, 4, 5, 6})}));
  // Zero point shape differs from the scale's.
  expect_node_error(run_op("QuantizeLinear", 13, {x, f32({3}, {1, 2, 3}), u8({1}, {0})}), "shape");
  // Blocked: wrong number of blocks, negative block size.
  expect_node_error(run_op("QuantizeLinear", 21, {x, f32({2, 1}, {1, 1})},
                           {{"axis", int_attr(1)}, {"block_size", int_attr(2)}}),
                    "blocks");
  expect_node_error(
      run_op("QuantizeLinear", 21, {x, Tensor::scalar<float>(1)}, {{"block_size", int_attr(-1)}}),
      "block_size");
  // output_dtype disagreeing with the zero point; a non-quantized output type.
  expect_node_error(
      run_op("QuantizeLinear", 21, {x, Tensor::scalar<float>(1), Tensor::scalar<uint8_t>(0)},
             {{"output_dtype", int_attr(3)}}),
      "output_dtype");
  expect_node_error(
      run_op("QuantizeLinear", 21, {x, Tensor::scalar<float>(1)}, {{"output_dtype", int_attr(1)}}));
  expect_node_error(run_op("QuantizeLinear", 13, {u8({1}, {1}), Tensor::scalar<float>(1)}),
                    "x must");
  expect_node_error(run_op("QuantizeLinear", 13, {x}));
}

// ---- DequantizeLinear --------------------------------------------------------------------------

TEST(CpuDequantizeLinear, PerTensorPerAxisInt32) {
  expect_result(
      run_op("DequantizeLinear", 10,
             {u8({4}, {0, 3, 128, 255}), Tensor::scalar<float>(2), Tensor::scalar<uint8_t>(128)}),
      DType::kFloat32, {4}, {-256, -250, 0, 254});
  expect_result(
      run_op("DequantizeLinear", 13,
             {s8({2, 2}, {-128, 127, -128, 127}), f32({2}, {0.5f, 2}), s8({2}, {127, -128})}),
      DType::kFloat32, {2, 2}, {-127.5, 510, -127.5, 510});
  expect_result(
      run_op("DequantizeLinear", 13, {i32({2}, {-1000000, 7}), Tensor::scalar<float>(0.5f)}),
      DType::kFloat32, {2}, {-500000, 3.5});
  // Blocked (opset 21), blocks of 2 along axis 0 of a [3] tensor.
  expect_result(run_op("DequantizeLinear", 21, {u8({3}, {1, 2, 3}), f32({2}, {1, 10})},
                       {{"axis", int_attr(0)}, {"block_size", int_attr(2)}}),
                DType::kFloat32, {3}, {1, 2, 30});
}

TEST(CpuDequantizeLinear, Float16ScaleGivesFloat16) {
  auto r = run_op(
      "DequantizeLinear", 19,
      {u8({2}, {10, 20}), Tensor::from_vector<Half>({}, {Half(0.5f)}), Tensor::scalar<uint8_t>(0)});
  expect_result(r, DType::kFloat16, {2}, {5, 10});
}

TEST(CpuDequantizeLinear, Errors) {
  expect_node_error(run_op("DequantizeLinear", 13,
                           {u8({2}, {1, 2}), Tensor::scalar<float>(1), Tensor::scalar<int8_t>(0)}),
                    "zero_point");
  expect_node_error(run_op("DequantizeLinear", 13, {u8({2}, {1, 2}), f32({3}, {1, 2, 3})},
                           {{"axis", int_attr(0)}}),
                    "axis dim");
  expect_node_error(run_op("DequantizeLinear", 13, {f32({2}, {1, 2}), Tensor::scalar<float>(1)}));
  expect_node_error(run_op("DequantizeLinear", 13, {u8({2}, {1, 2}), i32({}, {1})}), "x_scale");
}

// ---- DynamicQuantizeLinear ---------------------------------------------------------------------

TEST(CpuDynamicQuantizeLinear, SpecFormula) {
  // Range [-0.5, 254.5]: scale 1, zero point rint(0.5) = 0 (half to even).
  auto r = run_op("DynamicQuantizeLinear", 11, {f32({4}, {-0.5f, 254.5f, 1.5f, 2.5f})}, {}, 3);
  expect_result(r, DType::kUInt8, {4}, {0, 254, 2, 2}, 0);
  expect_result(r, DType::kFloat32, {}, {1}, 1);
  expect_result(r, DType::kUInt8, {}, {0}, 2);
  // Range [-1.5, 253.5]: scale 1, zero point rint(1.5) = 2.
  r = run_op("DynamicQuantizeLinear", 11, {f32({3}, {-1.5f, 253.5f, 0})}, {}, 3);
  expect_result(r, DType::kUInt8, {3}, {0, 255, 2}, 0);
  expect_result(r, DType::kUInt8, {}, {2}, 2);
  // Only positive values: the range is widened to include 0, zero point 0.
  r = run_op("DynamicQuantizeLinear", 11, {f32({2}, {51, 255})}, {}, 3);
  expect_result(r, DType::kUInt8, {2}, {51, 255}, 0);
  expect_result(r, DType::kUInt8, {}, {0}, 2);
  // Only negative values: zero point 255.
  r = run_op("DynamicQuantizeLinear", 11, {f32({2}, {-255, -51})}, {}, 3);
  expect_result(r, DType::kUInt8, {2}, {0, 204}, 0);
  expect_result(r, DType::kUInt8, {}, {255}, 2);
  // All zeros: scale 1, zero point 0.
  r = run_op("DynamicQuantizeLinear", 11, {f32({2}, {0, 0})}, {}, 3);
  expect_result(r, DType::kUInt8, {2}, {0, 0}, 0);
  expect_result(r, DType::kFloat32, {}, {1}, 1);
}

TEST(CpuDynamicQuantizeLinear, Errors) {
  expect_node_error(run_op("DynamicQuantizeLinear", 11, {u8({1}, {1})}, {}, 3), "float32");
}

// ---- MatMulInteger -----------------------------------------------------------------------------

TEST(CpuMatMulInteger, ZeroPointsAtExtremesOddK) {
  // A uint8 zp 255, B int8 zp -128, K = 3: (0 - 255) * (127 + 128) * 3 = -195075.
  expect_result(run_op("MatMulInteger", 10,
                       {u8({1, 3}, {0, 0, 0}), s8({3, 1}, {127, 127, 127}),
                        Tensor::scalar<uint8_t>(255), Tensor::scalar<int8_t>(-128)}),
                DType::kInt32, {1, 1}, {-195075});
  // A int8 x B uint8, no zero points: [-128, 127, 1] . [255, 255, 3] = 3.
  expect_result(
      run_op("MatMulInteger", 10, {s8({1, 3}, {-128, 127, 1}), u8({3, 1}, {255, 255, 3})}),
      DType::kInt32, {1, 1}, {-128 * 255 + 127 * 255 + 3});
  // uint8 x uint8 and int8 x int8.
  expect_result(run_op("MatMulInteger", 10, {u8({1, 1}, {255}), u8({1, 1}, {255})}), DType::kInt32,
                {1, 1}, {65025});
  expect_result(run_op("MatMulInteger", 10, {s8({1, 1}, {-128}), s8({1, 1}, {-128})}),
                DType::kInt32, {1, 1}, {16384});
}

TEST(CpuMatMulInteger, PerRowAndPerColumnZeroPoints) {
  const Tensor a = u8({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = u8({3, 2}, {1, 2, 3, 4, 5, 6});
  // a_zp per row [1, 4], b_zp per column [1, 2]:
  // A' = [[0,1,2],[0,1,2]], B' = [[0,0],[2,2],[4,4]] -> [[10, 10], [10, 10]].
  expect_result(run_op("MatMulInteger", 10, {a, b, u8({2}, {1, 4}), u8({2}, {1, 2})}),
                DType::kInt32, {2, 2}, {10, 10, 10, 10});
  // N-D per-row / per-column zero points: a [2, 1, 2] with zp [2, 1, 1]; b [2, 1] with zp [1, 1].
  expect_result(run_op("MatMulInteger", 10,
                       {u8({2, 1, 2}, {1, 2, 3, 4}), u8({2, 1}, {1, 1}), u8({2, 1, 1}, {1, 3}),
                        u8({1, 1}, {0})}),
                DType::kInt32, {2, 1, 1}, {1, 1});
  // Batched B with per-batch column zero points [2, 1, N].
  expect_result(
      run_op("MatMulInteger", 10,
             {u8({1, 1}, {1}), u8({2, 1, 2}, {5, 6, 7, 8}), Tensor(), u8({2, 1, 2}, {5, 6, 0, 0})}),
      DType::kInt32, {2, 1, 2}, {0, 0, 7, 8});
}

TEST(CpuMatMulInteger, Int32AccumulationWraps) {
  // 255 * 255 * 40000 = 2601000000 wraps to 2601000000 - 2^32.
  const int64_t K = 40000;
  Tensor a = *Tensor::create(DType::kUInt8, {1, K});
  Tensor b = *Tensor::create(DType::kUInt8, {K, 1});
  for (int64_t k = 0; k < K; ++k) a.data<uint8_t>()[k] = b.data<uint8_t>()[k] = 255;
  expect_result(run_op("MatMulInteger", 10, {a, b}), DType::kInt32, {1, 1},
                {2601000000.0 - 4294967296.0});
}

TEST(CpuMatMulInteger, Errors) {
  const Tensor a = u8({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = u8({3, 2}, {1, 2, 3, 4, 5, 6});
  expect_node_error(run_op("MatMulInteger", 10, {a, b, u8({3}, {1, 2, 3})}), "a_zero_point");
  expect_node_error(run_op("MatMulInteger", 10, {a, b, Tensor(), u8({3}, {1, 2, 3})}),
                    "b_zero_point");
  expect_node_error(run_op("MatMulInteger", 10, {a, b, s8({}, {0})}), "dtype");
  expect_node_error(run_op("MatMulInteger", 10, {a, a}), "inner");
  expect_node_error(run_op("MatMulInteger", 10, {f32({1, 1}, {1}), b}), "uint8 or int8");
}

// ---- QLinearMatMul -----------------------------------------------------------------------------

// QLinearMatMul with per-tensor parameters.
Expected<std::vector<Tensor>> qlinear(const Tensor& a, float as, const Tensor& azp, const Tensor& b,
                                      float bs, const Tensor& bzp, float ys, const Tensor& yzp,
                                      int opset = 10) {
  return run_op("QLinearMatMul", opset,
                {a, Tensor::scalar<float>(as), azp, b, Tensor::scalar<float>(bs), bzp,
                 Tensor::scalar<float>(ys), yzp});
}

TEST(CpuQLinearMatMul, RequantizeRoundHalfEven) {
  // Multiplier 0.5: C = 5 -> 2.5 -> 2, C = 7 -> 3.5 -> 4, C = -5 -> -2.5 -> -2. The zero point
  // is added after rounding (spec): with y_zp 11, 2.5 gives 13, not rint(13.5) = 14.
  expect_result(qlinear(u8({3, 1}, {5, 7, 0}), 0.5f, Tensor::scalar<uint8_t>(0), s8({1, 1}, {1}), 1,
                        Tensor::scalar<int8_t>(0), 1, Tensor::scalar<uint8_t>(11)),
                DType::kUInt8, {3, 1}, {13, 15, 11});
  expect_result(qlinear(s8({1, 1}, {-5}), 0.5f, Tensor::scalar<int8_t>(0), s8({1, 1}, {1}), 1,
                        Tensor::scalar<int8_t>(0), 1, Tensor::scalar<int8_t>(0)),
                DType::kInt8, {1, 1}, {-2});
}

TEST(CpuQLinearMatMul, Uint8TimesInt8Saturates) {
  // u8 A = 255 (zp 0) x s8 B = 127 / -128 (zp 0), K = 3: C = +-97155 / -97920.
  const Tensor a = u8({1, 3}, {255, 255, 255});
  const Tensor b = s8({3, 2}, {127, -128, 127, -128, 127, -128});
  expect_result(qlinear(a, 1, Tensor::scalar<uint8_t>(0), b, 1, Tensor::scalar<int8_t>(0), 1,
                        Tensor::scalar<uint8_t>(128)),
                DType::kUInt8, {1, 2}, {255, 0});
  expect_result(qlinear(a, 1, Tensor::scalar<uint8_t>(0), b, 1, Tensor::scalar<int8_t>(0), 1,
                        Tensor::scalar<int8_t>(0)),
                DType::kInt8, {1, 2}, {127, -128});
  // Zero points at the extremes: (0 - 255) * (127 - -128) = -65025, times 1/65025 = -1, + 128.
  expect_result(qlinear(u8({1, 1}, {0}), 1, Tensor::scalar<uint8_t>(255), s8({1, 1}, {127}), 1,
                        Tensor::scalar<int8_t>(-128), 65025, Tensor::scalar<uint8_t>(128)),
                DType::kUInt8, {1, 1}, {127});
}

TEST(CpuQLinearMatMul, PerRowPerColumnAndBatched) {
  // a per row scales [1, 2] zp [0, 1]; b per column scales [1, 0.5] zp [0, 2].
  // A' = [[1, 2], [2, 3]], B' = [[1, 0], [1, 2]]: C = [[3, 4], [5, 6]].
  // y = C * a_s * b_s: [[3, 2], [10, 6]].
  auto r = run_op(
      "QLinearMatMul", 10,
      {u8({2, 2}, {1, 2, 3, 4}), f32({2}, {1, 2}), u8({2}, {0, 1}), u8({2, 2}, {1, 2, 1, 4}),
       f32({2}, {1, 0.5f}), u8({2}, {0, 2}), Tensor::scalar<float>(1), Tensor::scalar<uint8_t>(0)});
  expect_result(r, DType::kUInt8, {2, 2}, {3, 2, 10, 6});
  // Batched A [2, 1, 2] x B [2, 1]: y = [1*1 + 2*1, 3 + 4] / 0.5.
  r = run_op("QLinearMatMul", 10,
             {u8({2, 1, 2}, {1, 2, 3, 4}), Tensor::scalar<float>(1), Tensor::scalar<uint8_t>(0),
              u8({2, 1}, {1, 1}), Tensor::scalar<float>(1), Tensor::scalar<uint8_t>(0),
              Tensor::scalar<float>(0.5f), Tensor::scalar<uint8_t>(0)});
  expect_result(r, DType::kUInt8, {2, 1, 1}, {6, 14});
}

TEST(CpuQLinearMatMul, Float16ScalesAtOpset21) {
  auto r = run_op(
      "QLinearMatMul", 21,
      {u8({1, 1}, {3}), Tensor::from_vector<Half>({}, {Half(0.5f)}), Tensor::scalar<uint8_t>(0),
       u8({1, 1}, {3}), Tensor::from_vector<Half>({}, {Half(1.0f)}), Tensor::scalar<uint8_t>(0),
       Tensor::from_vector<Half>({}, {Half(1.0f)}), Tensor::scalar<uint8_t>(0)});
  expect_result(r, DType::kUInt8, {1, 1}, {4});  // 9 * 0.5 = 4.5 -> 4
  // float16 scales are not allowed at opset 10.
  r = run_op(
      "QLinearMatMul", 10,
      {u8({1, 1}, {3}), Tensor::from_vector<Half>({}, {Half(0.5f)}), Tensor::scalar<uint8_t>(0),
       u8({1, 1}, {3}), Tensor::from_vector<Half>({}, {Half(1.0f)}), Tensor::scalar<uint8_t>(0),
       Tensor::from_vector<Half>({}, {Half(1.0f)}), Tensor::scalar<uint8_t>(0)});
  expect_node_error(r, "scales");
}

TEST(CpuQLinearMatMul, Errors) {
  const Tensor a = u8({2, 2}, {1, 2, 3, 4});
  // Scale and zero point shapes differ.
  expect_node_error(
      run_op("QLinearMatMul", 10,
             {a, f32({2}, {1, 2}), Tensor::scalar<uint8_t>(0), a, Tensor::scalar<float>(1),
              Tensor::scalar<uint8_t>(0), Tensor::scalar<float>(1), Tensor::scalar<uint8_t>(0)}),
      "shape");
  // Per-row scale of the wrong length.
  expect_node_error(
      run_op("QLinearMatMul", 10,
             {a, f32({3}, {1, 2, 3}), u8({3}, {0, 0, 0}), a, Tensor::scalar<float>(1),
              Tensor::scalar<uint8_t>(0), Tensor::scalar<float>(1), Tensor::scalar<uint8_t>(0)}),
      "a_scale");
  // Zero point dtype differs from a's.
  expect_node_error(qlinear(a, 1, Tensor::scalar<int8_t>(0), a, 1, Tensor::scalar<uint8_t>(0), 1,
                            Tensor::scalar<uint8_t>(0)),
                    "zero_point");
  // Missing input.
  expect_node_error(
      run_op("QLinearMatMul", 10,
             {a, Tensor::scalar<float>(1), Tensor::scalar<uint8_t>(0), a, Tensor::scalar<float>(1),
              Tensor::scalar<uint8_t>(0), Tensor::scalar<float>(1), Tensor()}),
      "y_zero_point");
}

}  // namespace
}  // namespace kiln::cpu
