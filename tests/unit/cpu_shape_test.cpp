// Unit tests for the CPU shape kernels (runtime/cpu/ops/shape*.cpp): hand-computed results,
// opset-dependent forms, edge cases and the errors hostile inputs must produce.
#include <gtest/gtest.h>

#include <climits>
#include <map>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/cpu/executor.h"
#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

Tensor iota_f32(const Shape& s) {
  Tensor t = Tensor::create(DType::kFloat32, s).value();
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

using V = std::vector<double>;
using S = Shape;

TEST(CpuShape, ReshapeZeroAndInfer) {
  Tensor y = ok1(run_op("Reshape", 13, {iota_f32({2, 3, 4}), i64v({0, -1})}));
  EXPECT_EQ(y.shape(), (S{2, 12}));
  EXPECT_EQ(y.get_as_double(13), 13);
  // allowzero=1: a literal 0 dim (numel 0 input).
  y = ok1(run_op("Reshape", 14, {f32({0, 3}, {}), i64v({3, 0})}, {{"allowzero", int_attr(1)}}));
  EXPECT_EQ(y.shape(), (S{3, 0}));
}

TEST(CpuShape, ReshapeErrors) {
  expect_error(run_op("Reshape", 13, {iota_f32({2, 3}), i64v({4, 2})}), "[2, 3]");
  auto r = run_op("Reshape", 13, {iota_f32({2, 3}), i64v({4, 2})});
  EXPECT_NE(r.status().message().find("[4, 2]"), std::string::npos);
  expect_error(run_op("Reshape", 13, {iota_f32({2, 3}), i64v({-1, -1})}), "-1");
  expect_error(run_op("Reshape", 13, {iota_f32({2, 3}), i64v({-2, 3})}), "-2");
  expect_error(run_op("Reshape", 13, {iota_f32({6}), i64v({0, 0, 6})}), "rank");
  expect_error(run_op("Reshape", 14, {f32({0}, {}), i64v({0, -1})}, {{"allowzero", int_attr(1)}}),
               "allowzero");
  expect_error(run_op("Reshape", 13, {iota_f32({6}), Tensor::from_vector<float>({2}, {2, 3})}),
               "int64");
  expect_error(run_op("Reshape", 13, {iota_f32({6}), i64v({INT64_MAX, INT64_MAX})}), "overflow");
}

TEST(CpuShape, TransposeAndDefaultPerm) {
  Tensor y = ok1(run_op("Transpose", 13, {iota_f32({2, 3})}));
  EXPECT_EQ(y.shape(), (S{3, 2}));
  EXPECT_EQ(values(y), (V{0, 3, 1, 4, 2, 5}));
  y = ok1(run_op("Transpose", 13, {iota_f32({2, 1, 3})}, {{"perm", ints_attr({1, 2, 0})}}));
  EXPECT_EQ(y.shape(), (S{1, 3, 2}));
  EXPECT_EQ(values(y), (V{0, 3, 1, 4, 2, 5}));
  expect_error(run_op("Transpose", 13, {iota_f32({2, 3})}, {{"perm", ints_attr({0, 0})}}),
               "permutation");
}

TEST(CpuShape, SqueezeUnsqueezeBothForms) {
  Tensor y = ok1(run_op("Squeeze", 11, {iota_f32({1, 3, 1})}, {{"axes", ints_attr({-1})}}));
  EXPECT_EQ(y.shape(), (S{1, 3}));
  y = ok1(run_op("Squeeze", 13, {iota_f32({1, 3, 1})}));
  EXPECT_EQ(y.shape(), (S{3}));
  y = ok1(run_op("Squeeze", 13, {iota_f32({1, 3, 1}), i64v({0})}));
  EXPECT_EQ(y.shape(), (S{3, 1}));
  expect_error(run_op("Squeeze", 13, {iota_f32({1, 3}), i64v({1})}), "size 3");
  y = ok1(run_op("Unsqueeze", 11, {iota_f32({3})}, {{"axes", ints_attr({0, -1})}}));
  EXPECT_EQ(y.shape(), (S{1, 3, 1}));
  y = ok1(run_op("Unsqueeze", 13, {iota_f32({3}), i64v({2, 0})}));
  EXPECT_EQ(y.shape(), (S{1, 3, 1}));
  expect_error(run_op("Unsqueeze", 13, {iota_f32({3}), i64v({0, 0})}), "repeated");
  expect_error(run_op("Unsqueeze", 13, {iota_f32({3}), i64v({5})}), "out of range");
}

TEST(CpuShape, Flatten) {
  Tensor y = ok1(run_op("Flatten", 13, {iota_f32({2, 3, 4})}, {{"axis", int_attr(-1)}}));
  EXPECT_EQ(y.shape(), (S{6, 4}));
  y = ok1(run_op("Flatten", 13, {iota_f32({2, 3, 4})}, {{"axis", int_attr(0)}}));
  EXPECT_EQ(y.shape(), (S{1, 24}));
  expect_error(run_op("Flatten", 13, {iota_f32({2, 3})}, {{"axis", int_attr(3)}}), "axis");
}

TEST(CpuShape, ConcatNegativeAxisAndEmpty) {
  Tensor y = ok1(run_op("Concat", 13, {iota_f32({2, 1}), f32({2, 0}, {}), iota_f32({2, 2})},
                        {{"axis", int_attr(-1)}}));
  EXPECT_EQ(y.shape(), (S{2, 3}));
  EXPECT_EQ(values(y), (V{0, 0, 1, 1, 2, 3}));
  expect_error(run_op("Concat", 13, {iota_f32({2, 1}), iota_f32({3, 1})}, {{"axis", int_attr(1)}}),
               "does not match");
}

TEST(CpuShape, SplitForms) {
  auto r = run_op("Split", 11, {iota_f32({5})}, {{"split", ints_attr({2, 3})}}, 2);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ(values((*r)[1]), (V{2, 3, 4}));
  r = run_op("Split", 13, {iota_f32({2, 2}), i64v({1, 1})}, {{"axis", int_attr(1)}}, 2);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ(values((*r)[0]), (V{0, 2}));
  r = run_op("Split", 18, {iota_f32({7})}, {{"num_outputs", int_attr(3)}}, 3);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ(values((*r)[0]), (V{0, 1, 2}));
  EXPECT_EQ(values((*r)[2]), (V{6}));
  expect_error(run_op("Split", 13, {iota_f32({5})}, {}, 2), "evenly");
  expect_error(run_op("Split", 13, {iota_f32({5}), i64v({2, 2})}, {}, 2), "sums to 4");
  expect_error(run_op("Split", 13, {iota_f32({5}), i64v({7, -2})}, {}, 2), "negative");
}

TEST(CpuShape, SliceStepsAndClamping) {
  Tensor x = iota_f32({10});
  Tensor y = ok1(run_op("Slice", 13, {x, i64v({-1}), i64v({INT64_MIN}), i64v({0}), i64v({-3})}));
  EXPECT_EQ(values(y), (V{9, 6, 3, 0}));
  y = ok1(run_op("Slice", 13, {x, i64v({2}), i64v({INT64_MAX}), Tensor(), i64v({3})}));
  EXPECT_EQ(values(y), (V{2, 5, 8}));
  y = ok1(run_op("Slice", 13, {x, i64v({20}), i64v({30})}));
  EXPECT_EQ(y.shape(), (S{0}));
  y = ok1(
      run_op("Slice", 9, {iota_f32({3, 4})},
             {{"starts", ints_attr({1})}, {"ends", ints_attr({-1})}, {"axes", ints_attr({1})}}));
  EXPECT_EQ(y.shape(), (S{3, 2}));
  EXPECT_EQ(values(y), (V{1, 2, 5, 6, 9, 10}));
  Tensor s32 = Tensor::from_vector<int32_t>({1}, {1});
  Tensor e32 = Tensor::from_vector<int32_t>({1}, {3});
  y = ok1(run_op("Slice", 13, {x, s32, e32}));
  EXPECT_EQ(values(y), (V{1, 2}));
  expect_error(run_op("Slice", 13, {x, i64v({0}), i64v({3}), Tensor(), i64v({0})}), "step");
  expect_error(run_op("Slice", 13, {x, i64v({0, 1}), i64v({3})}), "same length");
  expect_error(run_op("Slice", 13, {x, i64v({0}), i64v({3}), i64v({1})}), "out of range");
}

TEST(CpuShape, GatherNegativeAndOutOfRange) {
  Tensor x = iota_f32({3, 2});
  Tensor y = ok1(run_op("Gather", 13, {x, i64({2}, {-1, 0})}));
  EXPECT_EQ(values(y), (V{4, 5, 0, 1}));
  y = ok1(
      run_op("Gather", 13, {x, Tensor::from_vector<int32_t>({}, {1})}, {{"axis", int_attr(1)}}));
  EXPECT_EQ(y.shape(), (S{3}));
  EXPECT_EQ(values(y), (V{1, 3, 5}));
  expect_error(run_op("Gather", 13, {x, i64({2}, {0, 3})}), "index 3", StatusCode::kRuntimeError);
  expect_error(run_op("Gather", 13, {x, i64({1}, {-4})}), "index -4", StatusCode::kRuntimeError);
}

TEST(CpuShape, GatherElementsAndScatterElements) {
  Tensor x = iota_f32({2, 2});
  Tensor y =
      ok1(run_op("GatherElements", 13, {x, i64({2, 2}, {0, 0, 1, 0})}, {{"axis", int_attr(1)}}));
  EXPECT_EQ(values(y), (V{0, 0, 3, 2}));
  expect_error(run_op("GatherElements", 13, {x, i64({1, 1}, {2})}), "index 2",
               StatusCode::kRuntimeError);
  y = ok1(run_op("ScatterElements", 18,
                 {f32({1, 5}, {1, 2, 3, 4, 5}), i64({1, 2}, {1, 1}), f32({1, 2}, {1.1f, 2.1f})},
                 {{"axis", int_attr(1)}, {"reduction", str_attr("add")}}));
  EXPECT_NEAR(y.get_as_double(1), 5.2, 1e-5);
  y = ok1(run_op("Scatter", 10, {f32({3}, {0, 0, 0}), i64({2}, {2, -3}), f32({2}, {7, 8})}));
  EXPECT_EQ(values(y), (V{8, 0, 7}));
  expect_error(run_op("ScatterElements", 16, {x, i64({1, 1}, {0}), f32({1, 1}, {1})},
                      {{"reduction", str_attr("max")}}),
               "reduction");
  expect_error(run_op("ScatterElements", 13, {x, i64({1, 1}, {-3}), f32({1, 1}, {1})}), "index -3",
               StatusCode::kRuntimeError);
}

TEST(CpuShape, GatherNDAndScatterND) {
  Tensor x = iota_f32({2, 2, 2});
  Tensor y = ok1(run_op("GatherND", 13, {x, i64({2, 1}, {1, 0})}, {{"batch_dims", int_attr(1)}}));
  EXPECT_EQ(y.shape(), (S{2, 2}));
  EXPECT_EQ(values(y), (V{2, 3, 4, 5}));
  y = ok1(run_op("GatherND", 13, {x, i64({2, 3}, {1, 1, 1, 0, 0, -1})}));
  EXPECT_EQ(values(y), (V{7, 1}));
  expect_error(run_op("GatherND", 13, {x, i64({1, 3}, {0, 2, 0})}), "index 2",
               StatusCode::kRuntimeError);
  y = ok1(run_op("ScatterND", 18, {f32({4}, {1, 2, 3, 4}), i64({2, 1}, {1, 1}), f32({2}, {5, 6})},
                 {{"reduction", str_attr("mul")}}));
  EXPECT_EQ(values(y), (V{1, 60, 3, 4}));
  y = ok1(run_op("ScatterND", 18, {f32({4}, {1, 2, 3, 4}), i64({2, 1}, {0, 3}), f32({2}, {5, 0})},
                 {{"reduction", str_attr("min")}}));
  EXPECT_EQ(values(y), (V{1, 2, 3, 0}));
  expect_error(run_op("ScatterND", 13, {f32({4}, {1, 2, 3, 4}), i64({1, 1}, {4}), f32({1}, {5})}),
               "index 4", StatusCode::kRuntimeError);
  expect_error(
      run_op("ScatterND", 13, {f32({4}, {1, 2, 3, 4}), i64({1, 1}, {0}), f32({2}, {5, 6})}),
      "updates shape");
}

TEST(CpuShape, ExpandAndTile) {
  Tensor y = ok1(run_op("Expand", 13, {f32({3, 1}, {1, 2, 3}), i64v({2, 1, 2})}));
  EXPECT_EQ(y.shape(), (S{2, 3, 2}));
  EXPECT_EQ(values(y), (V{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  expect_error(run_op("Expand", 13, {f32({3}, {1, 2, 3}), i64v({2})}), "cannot expand");
  expect_error(run_op("Expand", 13, {f32({1}, {1}), i64v({-2})}), "negative");
  auto big = run_op("Expand", 13, {f32({1}, {1}), i64v({1LL << 40, 1LL << 20})});
  EXPECT_FALSE(big.has_value());
  y = ok1(run_op("Tile", 13, {f32({2}, {1, 2}), i64v({3})}));
  EXPECT_EQ(values(y), (V{1, 2, 1, 2, 1, 2}));
  y = ok1(run_op("Tile", 13, {iota_f32({2, 2}), i64v({1, 2})}));
  EXPECT_EQ(values(y), (V{0, 1, 0, 1, 2, 3, 2, 3}));
  expect_error(run_op("Tile", 13, {iota_f32({2, 2}), i64v({2})}), "repeats");
  expect_error(run_op("Tile", 13, {iota_f32({2}), i64v({-1})}), "negative");
}

TEST(CpuShape, ShapeSizeStartEnd) {
  Tensor x = iota_f32({2, 3, 4});
  EXPECT_EQ(values(ok1(run_op("Shape", 13, {x}))), (V{2, 3, 4}));
  EXPECT_EQ(values(ok1(run_op("Shape", 15, {x}, {{"start", int_attr(-2)}, {"end", int_attr(9)}}))),
            (V{3, 4}));
  EXPECT_EQ(ok1(run_op("Shape", 15, {x}, {{"start", int_attr(2)}, {"end", int_attr(1)}})).numel(),
            0);
  EXPECT_EQ(values(ok1(run_op("Size", 13, {x}))), (V{24}));
}

TEST(CpuShape, ConstantOfShapeAndConstant) {
  Tensor y = ok1(run_op("ConstantOfShape", 13, {i64v({2, 2})},
                        {{"value", tensor_attr(Tensor::from_vector<int32_t>({1}, {7}))}}));
  EXPECT_EQ(y.dtype(), DType::kInt32);
  EXPECT_EQ(values(y), (V{7, 7, 7, 7}));
  y = ok1(run_op("ConstantOfShape", 13, {i64v({})}));
  EXPECT_EQ(y.dtype(), DType::kFloat32);
  EXPECT_EQ(y.rank(), 0);
  expect_error(run_op("ConstantOfShape", 13, {i64v({2, -1})}), "negative");
  EXPECT_FALSE(run_op("ConstantOfShape", 13, {i64v({1LL << 62, 4})}).has_value());
  y = ok1(run_op("Constant", 13, {}, {{"value_ints", ints_attr({1, 2})}}));
  EXPECT_EQ(y.dtype(), DType::kInt64);
  EXPECT_EQ(values(y), (V{1, 2}));
  y = ok1(run_op("Constant", 13, {}, {{"value_float", float_attr(2.5f)}}));
  EXPECT_EQ(y.rank(), 0);
  EXPECT_EQ(values(y), (V{2.5}));
  ir::Attribute s;
  s.type = ir::AttrType::kString;
  s.s = "x";
  expect_error(run_op("Constant", 13, {}, {{"value_string", s}}), "string",
               StatusCode::kUnsupported);
  expect_error(run_op("Constant", 13, {}), "exactly one");
}

TEST(CpuShape, Range) {
  Tensor y = ok1(run_op(
      "Range", 13,
      {Tensor::scalar<int32_t>(10), Tensor::scalar<int32_t>(4), Tensor::scalar<int32_t>(-3)}));
  EXPECT_EQ(y.dtype(), DType::kInt32);
  EXPECT_EQ(values(y), (V{10, 7}));
  y = ok1(run_op("Range", 13, {Tensor::scalar(1.0f), Tensor::scalar(2.0f), Tensor::scalar(0.25f)}));
  EXPECT_EQ(values(y), (V{1, 1.25, 1.5, 1.75}));
  y = ok1(run_op("Range", 13, {Tensor::scalar(5.0f), Tensor::scalar(2.0f), Tensor::scalar(1.0f)}));
  EXPECT_EQ(y.numel(), 0);
  expect_error(
      run_op("Range", 13, {Tensor::scalar(1.0f), Tensor::scalar(2.0f), Tensor::scalar(0.0f)}),
      "delta");
  EXPECT_FALSE(run_op("Range", 13,
                      {Tensor::scalar<int64_t>(INT64_MIN), Tensor::scalar<int64_t>(INT64_MAX),
                       Tensor::scalar<int64_t>(1)})
                   .has_value());
}

TEST(CpuShape, PadModes) {
  Tensor x = f32({3}, {1, 2, 3});
  EXPECT_EQ(values(ok1(run_op("Pad", 13, {x, i64v({2, 1}), Tensor::scalar(9.0f)}))),
            (V{9, 9, 1, 2, 3, 9}));
  EXPECT_EQ(values(ok1(run_op("Pad", 13, {x, i64v({3, 3})}, {{"mode", str_attr("reflect")}}))),
            (V{2, 3, 2, 1, 2, 3, 2, 1, 2}));
  EXPECT_EQ(values(ok1(run_op("Pad", 13, {x, i64v({2, 1})}, {{"mode", str_attr("edge")}}))),
            (V{1, 1, 1, 2, 3, 3}));
  EXPECT_EQ(values(ok1(run_op("Pad", 19, {x, i64v({2, 4})}, {{"mode", str_attr("wrap")}}))),
            (V{2, 3, 1, 2, 3, 1, 2, 3, 1}));
  // Negative pads crop.
  EXPECT_EQ(values(ok1(run_op("Pad", 13, {x, i64v({-1, 1})}))), (V{2, 3, 0}));
  // Attribute form (opset < 11).
  EXPECT_EQ(
      values(ok1(run_op("Pad", 10, {x}, {{"pads", ints_attr({1, 0})}, {"value", float_attr(4)}}))),
      (V{4, 1, 2, 3}));
  // axes input (opset 18).
  Tensor y = ok1(run_op("Pad", 18, {iota_f32({2, 2}), i64v({1, 0}), Tensor(), i64v({-1})}));
  EXPECT_EQ(values(y), (V{0, 0, 1, 0, 2, 3}));
  expect_error(run_op("Pad", 13, {x, i64v({1})}), "pads");
  expect_error(run_op("Pad", 13, {x, i64v({-2, -2})}), "invalid");
  expect_error(run_op("Pad", 13, {x, i64v({1, 1})}, {{"mode", str_attr("wrap")}}), "mode");
  expect_error(run_op("Pad", 13, {f32({0}, {}), i64v({1, 1})}, {{"mode", str_attr("edge")}}),
               "empty");
  EXPECT_FALSE(run_op("Pad", 13, {x, i64v({INT64_MAX, 1})}).has_value());
}

TEST(CpuShape, TriluNonZeroOneHot) {
  Tensor x = iota_f32({3, 3});
  EXPECT_EQ(values(ok1(run_op("Trilu", 14, {x}))), (V{0, 1, 2, 0, 4, 5, 0, 0, 8}));
  EXPECT_EQ(
      values(ok1(run_op("Trilu", 14, {x, Tensor::scalar<int64_t>(-1)}, {{"upper", int_attr(0)}}))),
      (V{0, 0, 0, 3, 0, 0, 6, 7, 0}));
  EXPECT_EQ(values(ok1(run_op("Trilu", 14, {x, Tensor::scalar<int64_t>(INT64_MAX)}))), (V(9, 0)));
  Tensor nz = ok1(run_op("NonZero", 13, {f32({2, 2}, {1, 0, -0.0f, 3})}));
  EXPECT_EQ(nz.shape(), (S{2, 2}));
  EXPECT_EQ(values(nz), (V{0, 1, 0, 1}));
  Tensor oh = ok1(run_op("OneHot", 11, {i64v({1, -1, 5}), Tensor::scalar(3.0f), f32({2}, {0, 1})}));
  EXPECT_EQ(oh.shape(), (S{3, 3}));
  EXPECT_EQ(values(oh), (V{0, 1, 0, 0, 0, 1, 0, 0, 0}));
  oh = ok1(run_op("OneHot", 11, {i64v({1, 0}), Tensor::scalar<int64_t>(2), f32({2}, {0, 1})},
                  {{"axis", int_attr(0)}}));
  EXPECT_EQ(values(oh), (V{0, 1, 1, 0}));
  expect_error(run_op("OneHot", 11, {i64v({1}), Tensor::scalar<int64_t>(0), f32({2}, {0, 1})}),
               "depth");
}

TEST(CpuShape, DepthSpaceEyeCompressReverse) {
  Tensor x = iota_f32({1, 4, 1, 1});
  EXPECT_EQ(values(ok1(run_op("DepthToSpace", 13, {x}, {{"blocksize", int_attr(2)}}))),
            (V{0, 1, 2, 3}));
  Tensor x8 = iota_f32({1, 8, 1, 1});
  EXPECT_EQ(values(ok1(run_op("DepthToSpace", 13, {x8},
                              {{"blocksize", int_attr(2)}, {"mode", str_attr("DCR")}}))),
            (V{0, 2, 4, 6, 1, 3, 5, 7}));
  EXPECT_EQ(values(ok1(run_op("DepthToSpace", 13, {x8},
                              {{"blocksize", int_attr(2)}, {"mode", str_attr("CRD")}}))),
            (V{0, 1, 2, 3, 4, 5, 6, 7}));
  Tensor s =
      ok1(run_op("SpaceToDepth", 13, {iota_f32({1, 1, 2, 2})}, {{"blocksize", int_attr(2)}}));
  EXPECT_EQ(s.shape(), (S{1, 4, 1, 1}));
  EXPECT_EQ(values(s), (V{0, 1, 2, 3}));
  expect_error(run_op("DepthToSpace", 13, {iota_f32({1, 3, 1, 1})}, {{"blocksize", int_attr(2)}}),
               "divisible");
  Tensor e =
      ok1(run_op("EyeLike", 13, {iota_f32({2, 3})}, {{"k", int_attr(1)}, {"dtype", int_attr(7)}}));
  EXPECT_EQ(e.dtype(), DType::kInt64);
  EXPECT_EQ(values(e), (V{0, 1, 0, 0, 0, 1}));
  Tensor cond = Tensor::from_vector<bool>({3}, {false, true, true});
  Tensor c = ok1(run_op("Compress", 13, {iota_f32({3, 2}), cond}, {{"axis", int_attr(0)}}));
  EXPECT_EQ(values(c), (V{2, 3, 4, 5}));
  c = ok1(run_op("Compress", 13, {iota_f32({2, 2}), cond}));
  EXPECT_EQ(values(c), (V{1, 2}));
  expect_error(run_op("Compress", 13, {iota_f32({2}), cond}, {{"axis", int_attr(0)}}),
               "condition element 2", StatusCode::kRuntimeError);
  Tensor rs = ok1(run_op("ReverseSequence", 13, {iota_f32({3, 2}), i64v({3, 2})}));
  EXPECT_EQ(values(rs), (V{4, 3, 2, 1, 0, 5}));
  expect_error(run_op("ReverseSequence", 13, {iota_f32({3, 2}), i64v({4, 1})}), "sequence_lens[0]",
               StatusCode::kRuntimeError);
}

TEST(CpuShape, DtypeAgnosticMoves) {
  Tensor h = Tensor::create(DType::kFloat16, {2, 2}).value();
  for (int i = 0; i < 4; ++i) h.set_from_double(i, i);
  EXPECT_EQ(values(ok1(run_op("Transpose", 13, {h}))), (V{0, 2, 1, 3}));
  Tensor b = Tensor::from_vector<bool>({3}, {true, false, true});
  EXPECT_EQ(
      values(ok1(run_op("Slice", 13, {b, i64v({-1}), i64v({INT64_MIN}), i64v({0}), i64v({-1})}))),
      (V{1, 0, 1}));
  Tensor u8 = Tensor::from_vector<uint8_t>({2}, {5, 6});
  EXPECT_EQ(values(ok1(run_op("Concat", 13, {u8, u8}, {{"axis", int_attr(0)}}))), (V{5, 6, 5, 6}));
}

TEST(CpuShape, HostileInputsGiveErrors) {
  Tensor x = iota_f32({10});
  EXPECT_EQ(values(ok1(run_op("Slice", 13,
                              {x, i64v({5}), i64v({INT64_MIN}), i64v({0}), i64v({INT64_MIN})}))),
            (V{5}));
  expect_error(run_op("GatherND", 13, {iota_f32({2, 2}), i64({2, 1}, {0, 1})},
                      {{"batch_dims", int_attr(3)}}),
               "batch_dims");
  expect_error(run_op("Gather", 13, {x, f32({1}, {0})}), "int32 or int64");
  expect_error(run_op("OneHot", 11, {i64v({1}), Tensor::scalar<int64_t>(2), f32({3}, {0, 1, 2})}),
               "values");
  expect_error(run_op("Tile", 13, {iota_f32({2}), i64v({INT64_MAX})}), "overflows");
  expect_error(run_op("Concat", 13, {x, i64v({1})}, {{"axis", int_attr(0)}}), "dtype");
  expect_error(run_op("Trilu", 14, {x}), "rank");
  expect_error(
      run_op("Range", 13, {Tensor::scalar(1.0f), Tensor::scalar(2.0), Tensor::scalar(1.0f)}),
      "same dtype");
  expect_error(run_op("DepthToSpace", 13, {iota_f32({1, 4, 1, 1})},
                      {{"blocksize", int_attr(2)}, {"mode", str_attr("XYZ")}}),
               "mode");
  expect_error(run_op("DepthToSpace", 13, {iota_f32({1, 4, 1, 1})}, {{"blocksize", int_attr(0)}}),
               "blocksize");
  expect_error(run_op("EyeLike", 13, {iota_f32({1, 2, 2})}), "2-D");
  expect_error(run_op("ReverseSequence", 13, {iota_f32({2, 2}), i64v({1, 1})},
                      {{"batch_axis", int_attr(0)}}),
               "batch_axis");
  expect_error(run_op("Split", 18, {x}, {{"num_outputs", int_attr(3)}}, 2), "num_outputs");
  expect_error(run_op("Expand", 13, {x, Tensor::from_vector<int32_t>({1}, {10})}), "int64");
  expect_error(run_op("ScatterElements", 13, {x, i64({1}, {0}), f32({2}, {1, 2})}),
               "updates shape");
  expect_error(run_op("Transpose", 13, {iota_f32({2, 2})}, {{"perm", ints_attr({0, 5})}}),
               "permutation");
  expect_error(run_op("Squeeze", 11, {iota_f32({1, 2})}, {{"axes", ints_attr({0, 0})}}),
               "repeated");
}

}  // namespace
}  // namespace kiln::cpu
