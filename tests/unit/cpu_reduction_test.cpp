// Unit tests for the CPU reduction kernels (runtime/cpu/ops/reduction*.cpp): hand-computed
// results, opset-dependent forms, empty reductions, dtypes, and the errors hostile models must
// produce (a non-ok Status naming the node, never a crash).
#include <gtest/gtest.h>

#include <climits>
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

void expect_near_all(const Tensor& t, const std::vector<double>& want, double tol = 1e-6) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    double got = t.get_as_double(static_cast<int64_t>(i));
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got)) << "at " << i;
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got, want[i]) << "at " << i;
    } else {
      EXPECT_NEAR(got, want[i], tol) << "at " << i;
    }
  }
}

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- Reduce* ----------------------------------------------------------------------------------

TEST(CpuReduce, SumAxesAttributeAndKeepdims) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = run_op("ReduceSum", 11, {x}, {{"axes", ints_attr({1})}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 1}));
  expect_near_all((*r)[0], {6, 15});
  r = run_op("ReduceSum", 11, {x}, {{"axes", ints_attr({-2})}, {"keepdims", int_attr(0)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ((*r)[0].shape(), (Shape{3}));
  expect_near_all((*r)[0], {5, 7, 9});
  // No axes: everything.
  r = run_op("ReduceSum", 11, {x}, {{"keepdims", int_attr(0)}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].shape(), Shape{});
  expect_near_all((*r)[0], {21});
}

TEST(CpuReduce, SumAxesInputAndNoop) {
  Tensor x = f32({2, 2}, {1, 2, 3, 4});
  auto r = run_op("ReduceSum", 13, {x, i64({1}, {0})});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 2}));
  expect_near_all((*r)[0], {4, 6});
  // Empty axes: reduce all, or nothing with noop_with_empty_axes.
  r = run_op("ReduceSum", 13, {x, i64({0}, {})});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {10});
  r = run_op("ReduceSum", 13, {x, i64({0}, {})}, {{"noop_with_empty_axes", int_attr(1)}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 2}));
  expect_near_all((*r)[0], {1, 2, 3, 4});
  r = run_op("ReduceSum", 13, {x, Tensor()}, {{"noop_with_empty_axes", int_attr(1)}});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {1, 2, 3, 4});
}

TEST(CpuReduce, NoopAppliesTheElementwisePart) {
  // Reducing over no axis reduces each element alone: |x|, x^2, sqrt(x^2) (as onnx's reference).
  Tensor x = f32({2}, {-2, 3});
  std::map<std::string, ir::Attribute> noop = {{"noop_with_empty_axes", int_attr(1)}};
  auto r = run_op("ReduceL1", 18, {x}, noop);
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {2, 3});
  r = run_op("ReduceSumSquare", 18, {x}, noop);
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {4, 9});
  r = run_op("ReduceL2", 18, {x}, noop);
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {2, 3});
  r = run_op("ReduceMean", 18, {x}, noop);
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {-2, 3});
}

TEST(CpuReduce, AllKindsOnOneRow) {
  Tensor x = f32({1, 4}, {1, -2, 3, 4});
  std::map<std::string, ir::Attribute> a = {{"axes", ints_attr({1})}, {"keepdims", int_attr(0)}};
  struct Case {
    const char* op;
    double want;
  } cases[] = {
      {"ReduceSum", 6},
      {"ReduceMean", 1.5},
      {"ReduceMax", 4},
      {"ReduceMin", -2},
      {"ReduceProd", -24},
      {"ReduceL1", 10},
      {"ReduceL2", std::sqrt(30.0)},
      {"ReduceSumSquare", 30},
      {"ReduceLogSum", std::log(6.0)},
      {"ReduceLogSumExp", std::log(std::exp(1.0) + std::exp(-2.0) + std::exp(3.0) + std::exp(4.0))},
  };
  for (const auto& c : cases) {
    auto r = run_op(c.op, 11, {x}, a);
    ASSERT_TRUE(r.has_value()) << c.op << ": " << r.status().to_string();
    EXPECT_EQ((*r)[0].shape(), (Shape{1})) << c.op;
    expect_near_all((*r)[0], {c.want}, 1e-5);
  }
}

TEST(CpuReduce, MultipleNonAdjacentAxes) {
  // [2, 2, 2], reduce axes 0 and 2.
  Tensor x = f32({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto r = run_op("ReduceSum", 13, {x, i64({2}, {0, 2})}, {{"keepdims", int_attr(0)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ((*r)[0].shape(), (Shape{2}));
  expect_near_all((*r)[0], {1 + 2 + 5 + 6, 3 + 4 + 7 + 8});
  r = run_op("ReduceMax", 18, {x, i64({2}, {2, 0})});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 2, 1}));
  expect_near_all((*r)[0], {6, 8});
}

TEST(CpuReduce, EmptySetGivesTheIdentity) {
  Tensor x = f32({2, 0, 3}, {});
  std::map<std::string, ir::Attribute> a = {{"axes", ints_attr({1})}};
  struct Case {
    const char* op;
    double want;
  } cases[] = {{"ReduceSum", 0},       {"ReduceProd", 1},       {"ReduceMax", -kInf},
               {"ReduceMin", kInf},    {"ReduceL1", 0},         {"ReduceL2", 0},
               {"ReduceSumSquare", 0}, {"ReduceLogSum", -kInf}, {"ReduceLogSumExp", -kInf},
               {"ReduceMean", kNaN}};
  for (const auto& c : cases) {
    auto r = run_op(c.op, 11, {x}, a);
    ASSERT_TRUE(r.has_value()) << c.op << ": " << r.status().to_string();
    EXPECT_EQ((*r)[0].shape(), (Shape{2, 1, 3})) << c.op;
    expect_near_all((*r)[0], std::vector<double>(6, c.want));
    // The same with axes as an input (opset 18).
    r = run_op(c.op, 18, {x, i64({1}, {1})});
    ASSERT_TRUE(r.has_value()) << c.op << ": " << r.status().to_string();
    expect_near_all((*r)[0], std::vector<double>(6, c.want));
  }
  // Integer max/min of nothing: the type's limits.
  auto r = run_op("ReduceMax", 13, {i32({0}, {})});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].data<int32_t>()[0], INT32_MIN);
  r = run_op("ReduceMin", 13, {i32({0}, {})});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].data<int32_t>()[0], INT32_MAX);
  // A zero-sized kept dim: an empty output.
  r = run_op("ReduceSum", 13, {f32({0, 2}, {}), i64({1}, {1})});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].shape(), (Shape{0, 1}));
}

TEST(CpuReduce, IntegerTypes) {
  Tensor x = i64({2, 2}, {-7, 0, 5, 4});
  auto r = run_op("ReduceMean", 13, {x}, {{"axes", ints_attr({1})}});
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ((*r)[0].dtype(), DType::kInt64);
  EXPECT_EQ((*r)[0].data<int64_t>()[0], -3);  // -3.5 truncated, like numpy's astype
  EXPECT_EQ((*r)[0].data<int64_t>()[1], 4);
  r = run_op("ReduceL1", 13, {i32({3}, {-1, 2, -3})});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].data<int32_t>()[0], 6);
  r = run_op("ReduceProd", 13, {i32({3}, {-2, 3, 4})});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].data<int32_t>()[0], -24);
  r = run_op("ReduceL2", 13, {i32({2}, {3, 4})});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].data<int32_t>()[0], 5);
  Tensor u8 = Tensor::from_vector<uint8_t>({3}, {200, 100, 7});
  r = run_op("ReduceMax", 13, {u8});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].data<uint8_t>()[0], 200);
  // log(0) for an integer output saturates instead of being undefined behaviour.
  r = run_op("ReduceLogSum", 13, {i32({2}, {0, 0})});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].data<int32_t>()[0], INT32_MIN);
}

TEST(CpuReduce, Float16ComputesInFloat) {
  std::vector<Half> h = {Half(1.f), Half(2.f), Half(3.f), Half(4.f)};
  Tensor x = Tensor::from_vector<Half>({4}, h);
  auto r = run_op("ReduceMean", 13, {x});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  ASSERT_EQ((*r)[0].dtype(), DType::kFloat16);
  EXPECT_EQ(static_cast<float>((*r)[0].data<Half>()[0]), 2.5f);
  // 2048 + 1 + 1 is 2050 exactly, though 2048 + 1 rounds back to 2048 in half.
  x = Tensor::from_vector<Half>({3}, {Half(2048.f), Half(1.f), Half(1.f)});
  r = run_op("ReduceSum", 13, {x});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(static_cast<float>((*r)[0].data<Half>()[0]), 2050.f);
}

TEST(CpuReduce, BoolMaxMinAndNaN) {
  Tensor b = Tensor::from_vector<bool>({2, 2}, {true, false, false, false});
  auto r = run_op("ReduceMax", 20, {b, i64({1}, {1})}, {{"keepdims", int_attr(0)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ(values((*r)[0]), (std::vector<double>{1, 0}));
  r = run_op("ReduceMin", 20, {b});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(values((*r)[0]), (std::vector<double>{0}));
  expect_node_error(run_op("ReduceSum", 13, {b}));
  r = run_op("ReduceMax", 13, {f32({3}, {1, NAN, 2})});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(std::isnan((*r)[0].data<float>()[0]));
}

TEST(CpuReduce, LogSumExpIsStable) {
  auto r = run_op("ReduceLogSumExp", 13, {f32({2}, {1000, 1000})});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {1000 + std::log(2.0)}, 1e-3);
  r = run_op("ReduceLogSumExp", 13, {f32({2}, {-INFINITY, -INFINITY})});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {-kInf});
}

TEST(CpuReduce, BadAxesAreErrors) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_node_error(run_op("ReduceSum", 11, {x}, {{"axes", ints_attr({2})}}));
  expect_node_error(run_op("ReduceSum", 11, {x}, {{"axes", ints_attr({-3})}}));
  expect_node_error(run_op("ReduceSum", 11, {x}, {{"axes", ints_attr({1, -1})}}));
  expect_node_error(run_op("ReduceMean", 10, {x}, {{"axes", ints_attr({-1})}}));  // negative: 11+
  expect_node_error(run_op("ReduceMean", 18, {x}, {{"axes", ints_attr({1})}}));   // input from 18
  expect_node_error(run_op("ReduceSum", 13, {x, i32({1}, {1})}));                 // must be int64
  expect_node_error(run_op("ReduceSum", 13, {x, i64({1}, {INT64_MIN})}));
  expect_node_error(run_op("ReduceSum", 13, {x, i64({1, 1}, {1})}));
  expect_node_error(run_op("ReduceSum", 13, {Tensor::scalar<float>(1.f), i64({1}, {0})}));
  // A scalar reduced over all (no) axes is itself.
  auto r = run_op("ReduceSum", 13, {Tensor::scalar<float>(5.f)});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].shape(), Shape{});
  expect_near_all((*r)[0], {5});
}

TEST(CpuReduce, ResultsDoNotDependOnThreads) {
  std::vector<float> v(64 * 129);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i) * 0.37f) * 1e3f;
  Tensor x = f32({64, 129}, v);
  for (const char* op : {"ReduceSum", "ReduceLogSumExp", "ReduceL2"}) {
    auto a = run_op(op, 11, {x}, {{"axes", ints_attr({0})}}, 1, 1);
    auto b = run_op(op, 11, {x}, {{"axes", ints_attr({0})}}, 1, 7);
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_EQ(values((*a)[0]), values((*b)[0])) << op;
  }
  auto a = run_op("Softmax", 13, {x}, {}, 1, 1);
  auto b = run_op("Softmax", 13, {x}, {}, 1, 5);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(values((*a)[0]), values((*b)[0]));
}

// ---- ArgMax / ArgMin --------------------------------------------------------------------------

TEST(CpuArg, KeepdimsAndSelectLastIndex) {
  Tensor x = f32({2, 3}, {1, 5, 5, 7, 2, 7});
  auto r = run_op("ArgMax", 13, {x}, {{"axis", int_attr(1)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  ASSERT_EQ((*r)[0].dtype(), DType::kInt64);
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(values((*r)[0]), (std::vector<double>{1, 0}));
  r = run_op("ArgMax", 13, {x}, {{"axis", int_attr(-1)}, {"select_last_index", int_attr(1)}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(values((*r)[0]), (std::vector<double>{2, 2}));
  r = run_op("ArgMin", 13, {x}, {{"keepdims", int_attr(0)}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].shape(), (Shape{3}));
  EXPECT_EQ(values((*r)[0]), (std::vector<double>{0, 1, 0}));
  // NaN wins, like numpy.
  r = run_op("ArgMin", 13, {f32({3}, {1, NAN, 0})});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(values((*r)[0]), (std::vector<double>{1}));
  r = run_op("ArgMax", 13, {i32({3}, {-5, -1, -3})});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(values((*r)[0]), (std::vector<double>{1}));
}

TEST(CpuArg, Errors) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_node_error(run_op("ArgMax", 13, {x}, {{"axis", int_attr(2)}}));
  expect_node_error(run_op("ArgMax", 10, {x}, {{"axis", int_attr(-1)}}));
  expect_node_error(run_op("ArgMin", 13, {f32({2, 0}, {})}, {{"axis", int_attr(1)}}));
  expect_node_error(run_op("ArgMin", 13, {Tensor::scalar<float>(1.f)}));
}

// ---- Softmax family -----------------------------------------------------------------------------

TEST(CpuSoftmax, CoercedTo2DBeforeOpset13) {
  Tensor x = f32({1, 2, 2}, {0, 0, 0, std::log(3.f)});
  // Opset 11, axis 1: one row of 4 -> exp sums to 6.
  auto r = run_op("Softmax", 11, {x}, {{"axis", int_attr(1)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_near_all((*r)[0], {1.0 / 6, 1.0 / 6, 1.0 / 6, 0.5});
  // Opset 13, axis 1: along dim 1 only (pairs (0,0) and (0,log3)).
  r = run_op("Softmax", 13, {x}, {{"axis", int_attr(1)}});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {0.5, 0.25, 0.5, 0.75});
  // Opset 13 default axis -1.
  r = run_op("Softmax", 13, {x});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {0.5, 0.5, 0.25, 0.75});
  // Opset 1 default axis 1 on a 1-D input: rows of one element.
  r = run_op("Softmax", 1, {f32({3}, {1, 2, 3})});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_near_all((*r)[0], {1, 1, 1});
}

TEST(CpuSoftmax, LargeNumbersAndLogSoftmax) {
  Tensor x = f32({1, 2}, {10000, 10000});
  auto r = run_op("Softmax", 13, {x});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {0.5, 0.5});
  r = run_op("LogSoftmax", 13, {f32({3}, {1000, 1000, 1000})});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], std::vector<double>(3, -std::log(3.0)), 1e-5);
  r = run_op("LogSoftmax", 11, {f32({1, 2}, {0, std::log(3.f)})});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {std::log(0.25), std::log(0.75)}, 1e-6);
}

TEST(CpuSoftmax, HardmaxTiesPickTheFirst) {
  Tensor x = f32({2, 3}, {3, 1, 3, -1, -1, -2});
  auto r = run_op("Hardmax", 13, {x});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {1, 0, 0, 1, 0, 0});
  r = run_op("Hardmax", 11, {x}, {{"axis", int_attr(0)}});  // one row of 6
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {1, 0, 0, 0, 0, 0});
}

TEST(CpuSoftmax, Errors) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_node_error(run_op("Softmax", 13, {x}, {{"axis", int_attr(2)}}));
  expect_node_error(run_op("Softmax", 11, {x}, {{"axis", int_attr(2)}}));
  expect_node_error(run_op("LogSoftmax", 13, {x}, {{"axis", int_attr(-3)}}));
  expect_node_error(run_op("Softmax", 13, {i32({2}, {1, 2})}));
  expect_node_error(run_op("Hardmax", 13, {Tensor::scalar<float>(1.f)}));
}

// ---- Normalizations -----------------------------------------------------------------------------

TEST(CpuNorm, LayerNormalizationWithStats) {
  Tensor x = f32({2, 2}, {1, 3, 2, 6});
  Tensor scale = f32({2}, {1, 2});
  Tensor bias = f32({2}, {0, 1});
  auto r = run_op("LayerNormalization", 17, {x, scale, bias}, {{"epsilon", float_attr(0.f)}}, 3);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  // Row 0: mean 2, var 1. Row 1: mean 4, var 4.
  expect_near_all((*r)[0], {-1, 3, -1, 3});
  EXPECT_EQ((*r)[1].shape(), (Shape{2, 1}));
  ASSERT_EQ((*r)[1].dtype(), DType::kFloat32);
  expect_near_all((*r)[1], {2, 4});
  expect_near_all((*r)[2], {1, 0.5});
  // axis 0: one group over everything; scale broadcast from shape [1]; no bias.
  r = run_op("LayerNormalization", 17, {x, f32({1}, {1})}, {{"axis", int_attr(0)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  double mean = 3, var = (4 + 0 + 1 + 9) / 4.0, inv = 1 / std::sqrt(var + 1e-5);
  expect_near_all((*r)[0], {(1 - mean) * inv, 0, (2 - mean) * inv, (6 - mean) * inv}, 1e-5);
}

TEST(CpuNorm, LayerNormalizationErrors) {
  Tensor x = f32({2, 2}, {1, 3, 2, 6});
  expect_node_error(run_op("LayerNormalization", 17, {x, f32({3}, {1, 1, 1})}));
  expect_node_error(
      run_op("LayerNormalization", 17, {x, f32({2}, {1, 1})}, {{"axis", int_attr(2)}}));
  expect_node_error(
      run_op("LayerNormalization", 17, {x, f32({2}, {1, 1})}, {{"stash_type", int_attr(7)}}));
  expect_node_error(run_op("LayerNormalization", 17, {x, i64({2}, {1, 1})}));
  expect_node_error(run_op("LayerNormalization", 17, {x, f32({2}, {1, 1}), f32({2, 2, 2}, {})}));
}

TEST(CpuNorm, InstanceNormalization) {
  Tensor x = f32({1, 2, 2}, {0, 2, 5, 5});
  auto r = run_op("InstanceNormalization", 6, {x, f32({2}, {2, 1}), f32({2}, {1, 7})},
                  {{"epsilon", float_attr(0.f)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  // Channel 0: mean 1, std 1 -> 2 * (+-1) + 1. Channel 1: constant -> 0/sqrt(0) is NaN with
  // epsilon 0; use the default epsilon below for a finite result.
  EXPECT_NEAR((*r)[0].get_as_double(0), -1, 1e-6);
  EXPECT_NEAR((*r)[0].get_as_double(1), 3, 1e-6);
  r = run_op("InstanceNormalization", 6, {x, f32({2}, {2, 1}), f32({2}, {1, 7})});
  ASSERT_TRUE(r.has_value());
  EXPECT_NEAR((*r)[0].get_as_double(2), 7, 1e-6);
  expect_node_error(run_op("InstanceNormalization", 6, {x, f32({3}, {1, 1, 1}), f32({2}, {0, 0})}));
  expect_node_error(run_op("InstanceNormalization", 6,
                           {f32({2, 2}, {1, 2, 3, 4}), f32({2}, {1, 1}), f32({2}, {0, 0})}));
}

TEST(CpuNorm, LpNormalization) {
  Tensor x = f32({2, 2}, {1, 3, 3, 4});
  auto r = run_op("LpNormalization", 1, {x}, {{"p", int_attr(1)}});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_near_all((*r)[0], {0.25, 0.75, 3.0 / 7, 4.0 / 7});
  r = run_op("LpNormalization", 1, {x}, {{"axis", int_attr(0)}});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {1 / std::sqrt(10.0), 0.6, 3 / std::sqrt(10.0), 0.8});
  r = run_op("LpNormalization", 1, {f32({2}, {0, 0})});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {0, 0});
  expect_node_error(run_op("LpNormalization", 1, {x}, {{"p", int_attr(3)}}));
  expect_node_error(run_op("LpNormalization", 1, {x}, {{"axis", int_attr(2)}}));
}

TEST(CpuNorm, MeanVarianceNormalization) {
  // Default axes [0, 2, 3]: per channel.
  Tensor x = f32({1, 2, 1, 2}, {1, 3, 10, 10});
  auto r = run_op("MeanVarianceNormalization", 13, {x});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_near_all((*r)[0], {-1, 1, 0, 0}, 1e-6);
  r = run_op("MeanVarianceNormalization", 13, {f32({4}, {1, 3, 1, 3})}, {{"axes", ints_attr({0})}});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {-1, 1, -1, 1}, 1e-6);
  expect_node_error(run_op("MeanVarianceNormalization", 13, {f32({4}, {1, 3, 1, 3})}));  // rank < 4
  expect_node_error(run_op("MeanVarianceNormalization", 13, {x}, {{"axes", ints_attr({1, 1})}}));
}

// ---- TopK ---------------------------------------------------------------------------------------

TEST(CpuTopK, AttributeAndInputForms) {
  Tensor x = f32({2, 4}, {1, 4, 4, 2, 0, -1, 5, 5});
  auto r = run_op("TopK", 1, {x}, {{"k", int_attr(2)}}, 2);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 2}));
  expect_near_all((*r)[0], {4, 4, 5, 5});
  EXPECT_EQ(values((*r)[1]), (std::vector<double>{1, 2, 2, 3}));  // ties: lower index first
  r = run_op("TopK", 11, {x, i64({1}, {3})}, {{"largest", int_attr(0)}}, 2);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_near_all((*r)[0], {1, 2, 4, -1, 0, 5});
  EXPECT_EQ(values((*r)[1]), (std::vector<double>{0, 3, 1, 1, 0, 2}));
  r = run_op("TopK", 11, {x, i64({1}, {1})}, {{"axis", int_attr(0)}}, 2);
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {1, 4, 5, 5});
  EXPECT_EQ(values((*r)[1]), (std::vector<double>{0, 0, 1, 1}));
  r = run_op("TopK", 11, {x, i64({1}, {0})}, {}, 2);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 0}));
  // NaN ranks as the largest.
  r = run_op("TopK", 11, {f32({3}, {1, NAN, 2}), i64({1}, {2})}, {}, 2);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(values((*r)[1]), (std::vector<double>{1, 2}));
  Tensor u = Tensor::from_vector<uint64_t>({3}, {5, UINT64_MAX, 7});
  r = run_op("TopK", 11, {u, i64({1}, {1})}, {}, 2);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].data<uint64_t>()[0], UINT64_MAX);
}

TEST(CpuTopK, Errors) {
  Tensor x = f32({2, 4}, {1, 4, 4, 2, 0, -1, 5, 5});
  expect_node_error(run_op("TopK", 11, {x, i64({1}, {5})}, {}, 2));
  expect_node_error(run_op("TopK", 11, {x, i64({1}, {-1})}, {}, 2));
  expect_node_error(run_op("TopK", 11, {x, i32({1}, {1})}, {}, 2));
  expect_node_error(run_op("TopK", 11, {x, i64({2}, {1, 1})}, {}, 2));
  expect_node_error(run_op("TopK", 11, {x, i64({1}, {1})}, {{"axis", int_attr(2)}}, 2));
  expect_node_error(run_op("TopK", 1, {x}, {}, 2));  // k attribute required
}

// ---- CumSum -------------------------------------------------------------------------------------

TEST(CpuCumSum, ExclusiveReverseAndAxis) {
  Tensor x = f32({5}, {1, 2, 3, 4, 5});
  Tensor axis = i64({}, {0});
  auto r = run_op("CumSum", 14, {x, axis});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_near_all((*r)[0], {1, 3, 6, 10, 15});
  r = run_op("CumSum", 14, {x, axis}, {{"exclusive", int_attr(1)}});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {0, 1, 3, 6, 10});
  r = run_op("CumSum", 14, {x, axis}, {{"reverse", int_attr(1)}});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {15, 14, 12, 9, 5});
  r = run_op("CumSum", 14, {x, axis}, {{"reverse", int_attr(1)}, {"exclusive", int_attr(1)}});
  ASSERT_TRUE(r.has_value());
  expect_near_all((*r)[0], {14, 12, 9, 5, 0});
  Tensor m = i32({2, 3}, {1, 2, 3, 4, 5, 6});
  r = run_op("CumSum", 11, {m, i32({}, {-2})});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  ASSERT_EQ((*r)[0].dtype(), DType::kInt32);
  EXPECT_EQ(values((*r)[0]), (std::vector<double>{1, 2, 3, 5, 7, 9}));
  r = run_op("CumSum", 11, {m, i64({1}, {1})});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(values((*r)[0]), (std::vector<double>{1, 3, 6, 4, 9, 15}));
}

TEST(CpuCumSum, Errors) {
  Tensor x = f32({5}, {1, 2, 3, 4, 5});
  expect_node_error(run_op("CumSum", 14, {x, i64({}, {1})}));
  expect_node_error(run_op("CumSum", 14, {x, i64({}, {-2})}));
  expect_node_error(run_op("CumSum", 14, {x, i64({2}, {0, 0})}));
  expect_node_error(run_op("CumSum", 14, {x, f32({}, {0})}));
  expect_node_error(run_op("CumSum", 14, {Tensor::scalar<float>(1.f), i64({}, {0})}));
}

}  // namespace
}  // namespace kiln::cpu
