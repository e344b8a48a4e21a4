// Unit tests for the CPU elementwise kernels (runtime/cpu/ops/elementwise*.cpp): hand-computed
// results, opset-dependent forms, integer and float edge cases, and the errors bad inputs give.
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

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

using namespace kiln::testing;  // NOLINT: the shared test helpers

using V = std::vector<double>;

// --- broadcasting arithmetic ---------------------------------------------------------------------

TEST(CpuElementwise, AddBroadcastsRowAndColumn) {
  Tensor y = ok1(run_op("Add", 14, {f32({2, 1}, {10, 20}), f32({3}, {1, 2, 3})}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(y), (V{11, 12, 13, 21, 22, 23}));
}

TEST(CpuElementwise, SubMulDivFloat) {
  EXPECT_EQ(values(ok1(run_op("Sub", 14, {f32v({5, 1}), f32v({2, 4})}))), (V{3, -3}));
  EXPECT_EQ(values(ok1(run_op("Mul", 14, {f32v({5, 1}), f32({}, {3})}))), (V{15, 3}));
  Tensor d = ok1(run_op("Div", 14, {f32v({1, -1, 0}), f32v({0, 0, 0})}));
  EXPECT_EQ(d.get_as_double(0), INFINITY);
  EXPECT_EQ(d.get_as_double(1), -INFINITY);
  EXPECT_TRUE(std::isnan(d.get_as_double(2)));
}

TEST(CpuElementwise, IntegerAddWrapsInsteadOfOverflowing) {
  Tensor y = ok1(run_op("Add", 14, {i32v({INT32_MAX, -5}), i32v({1, 3})}));
  EXPECT_EQ(values(y), (V{static_cast<double>(INT32_MIN), -2}));
  Tensor m = ok1(run_op("Mul", 14, {make<uint16_t>({1}, {65535}), make<uint16_t>({1}, {65535})}));
  EXPECT_EQ(values(m), (V{1}));  // 65535^2 mod 2^16
}

TEST(CpuElementwise, IntegerDivTruncatesAndRejectsZero) {
  EXPECT_EQ(values(ok1(run_op("Div", 14, {i64v({7, -7, 7, INT64_MIN}), i64v({2, 2, -2, -1})}))),
            (V{3, -3, -3, static_cast<double>(INT64_MIN)}));
  expect_error(run_op("Div", 14, {i32v({1, 2}), i32v({1, 0})}), "division by zero",
               StatusCode::kRuntimeError);
}

TEST(CpuElementwise, BroadcastMismatchIsAnError) {
  expect_error(run_op("Add", 14, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32v({1, 2})}),
               "cannot be broadcast");
  expect_error(run_op("Add", 14, {f32v({1}), i32v({1})}), "dtypes differ");
}

TEST(CpuElementwise, LegacyBroadcastAttributeBeforeOpset7) {
  std::map<std::string, ir::Attribute> attrs{{"broadcast", int_attr(1)}, {"axis", int_attr(0)}};
  Tensor y = ok1(run_op("Add", 6, {f32({2, 3}, {0, 0, 0, 0, 0, 0}), f32v({1, 2})}, attrs));
  EXPECT_EQ(values(y), (V{1, 1, 1, 2, 2, 2}));
  expect_error(run_op("Add", 6, {f32({2, 3}, {0, 0, 0, 0, 0, 0}), f32v({1, 2})}), "broadcast");
}

TEST(CpuElementwise, HalfArithmeticRoundsOnce) {
  Tensor a = make<Half>({2}, {Half(1.0f), Half(2048.0f)});
  Tensor b = make<Half>({2}, {Half(0.5f), Half(1.0f)});
  Tensor y = ok1(run_op("Add", 14, {a, b}));
  EXPECT_EQ(y.dtype(), DType::kFloat16);
  EXPECT_EQ(values(y), (V{1.5, 2048}));  // 2049 rounds to even in half
}

// --- Mod and Pow ---------------------------------------------------------------------------------

TEST(CpuElementwise, ModIntegerSignFollowsDivisor) {
  Tensor a = i32v({-7, 7, -7, 7}), b = i32v({3, -3, -3, 3});
  EXPECT_EQ(values(ok1(run_op("Mod", 13, {a, b}))), (V{2, -2, -1, 1}));
  EXPECT_EQ(values(ok1(run_op("Mod", 13, {a, b}, {{"fmod", int_attr(1)}}))), (V{-1, 1, -1, 1}));
  expect_error(run_op("Mod", 13, {a, i32v({1, 0, 1, 1})}), "modulo by zero",
               StatusCode::kRuntimeError);
  expect_error(run_op("Mod", 13, {f32v({1}), f32v({2})}), "fmod");
  expect_error(run_op("Mod", 13, {a, b}, {{"fmod", int_attr(2)}}), "fmod");
  Tensor f = ok1(run_op("Mod", 13, {f32v({-7.5f}), f32v({2})}, {{"fmod", int_attr(1)}}));
  EXPECT_EQ(values(f), (V{-1.5}));
}

TEST(CpuElementwise, PowMixedTypes) {
  EXPECT_EQ(values(ok1(run_op("Pow", 15, {i32v({2, 3, -2}), i32v({10, 0, 3})}))), (V{1024, 1, -8}));
  Tensor y = ok1(run_op("Pow", 15, {i32v({2, 9}), f32v({0.5f, 0.5f})}));
  EXPECT_EQ(y.dtype(), DType::kInt32);
  EXPECT_EQ(values(y), (V{1, 3}));  // sqrt(2) truncates to 1
  Tensor z = ok1(run_op("Pow", 15, {f32v({2, 4}), i64v({-1, 2})}));
  EXPECT_EQ(z.dtype(), DType::kFloat32);
  EXPECT_EQ(values(z), (V{0.5, 16}));
}

// --- comparisons, logic, bitwise -----------------------------------------------------------------

TEST(CpuElementwise, ComparisonsGiveBool) {
  Tensor a = f32v({1, 2, 3, kNaN}), b = f32({}, {2});
  Tensor lt = ok1(run_op("Less", 13, {a, b}));
  EXPECT_EQ(lt.dtype(), DType::kBool);
  EXPECT_EQ(values(lt), (V{1, 0, 0, 0}));
  EXPECT_EQ(values(ok1(run_op("GreaterOrEqual", 16, {a, b}))), (V{0, 1, 1, 0}));
  EXPECT_EQ(values(ok1(run_op("Equal", 13, {i64v({1, 2}), i64v({2, 2})}))), (V{0, 1}));
}

TEST(CpuElementwise, LogicalAndBitwise) {
  EXPECT_EQ(
      values(ok1(run_op("Xor", 7, {boolv({true, true, false}), boolv({true, false, false})}))),
      (V{0, 1, 0}));
  expect_error(run_op("And", 7, {f32v({1}), f32v({1})}), "dtype");
  EXPECT_EQ(values(ok1(run_op("BitwiseAnd", 18, {i32v({12, -1}), i32v({10, 5})}))), (V{8, 5}));
  EXPECT_EQ(values(ok1(run_op("BitwiseNot", 18, {i32v({0, 5})}))), (V{-1, -6}));
  EXPECT_EQ(values(ok1(run_op("Not", 1, {boolv({true, false})}))), (V{0, 1}));
}

TEST(CpuElementwise, BitShift) {
  Tensor x = make<uint8_t>({3}, {1, 128, 255});
  Tensor s = make<uint8_t>({3}, {3, 1, 9});
  EXPECT_EQ(values(ok1(run_op("BitShift", 11, {x, s}, {{"direction", str_attr("LEFT")}}))),
            (V{8, 0, 0}));
  EXPECT_EQ(values(ok1(run_op("BitShift", 11, {x, s}, {{"direction", str_attr("RIGHT")}}))),
            (V{0, 64, 0}));
  expect_error(run_op("BitShift", 11, {x, s}, {{"direction", str_attr("UP")}}), "direction");
  expect_error(run_op("BitShift", 11, {x, s}), "direction");
  expect_error(run_op("BitShift", 11, {i32v({1}), i32v({1})}, {{"direction", str_attr("LEFT")}}),
               "dtype");
}

// --- Where, PRelu, variadic ----------------------------------------------------------------------

TEST(CpuElementwise, WhereBroadcastsThreeWays) {
  Tensor c = make<bool>({2, 1}, {true, false});
  Tensor y = ok1(run_op("Where", 16, {c, f32v({1, 2}), f32({}, {-1})}));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(values(y), (V{1, 2, -1, -1}));
  expect_error(run_op("Where", 16, {f32v({1}), f32v({1}), f32v({1})}), "bool");
}

TEST(CpuElementwise, PReluSlopeBroadcastsOneWay) {
  Tensor x = f32({2, 2}, {-1, 2, -3, 4});
  EXPECT_EQ(values(ok1(run_op("PRelu", 16, {x, f32({2, 1}, {0.5f, 2})}))), (V{-0.5, 2, -6, 4}));
  expect_error(run_op("PRelu", 16, {f32v({-1, 1}), f32({2, 2}, {1, 1, 1, 1})}), "slope");
}

TEST(CpuElementwise, VariadicOpsBroadcast) {
  Tensor a = f32v({1, 2, 3}), b = f32({}, {2}), c = f32({1, 3}, {0, 0, 6});
  Tensor s = ok1(run_op("Sum", 13, {a, b, c}));
  EXPECT_EQ(s.shape(), (Shape{1, 3}));
  EXPECT_EQ(values(s), (V{3, 4, 11}));
  Tensor mean = ok1(run_op("Mean", 13, {a, b, c}));
  EXPECT_EQ(mean.get_as_double(0), 1);
  EXPECT_NEAR(mean.get_as_double(1), 4.0 / 3, 1e-6);
  EXPECT_NEAR(mean.get_as_double(2), 11.0 / 3, 1e-6);
  EXPECT_EQ(values(ok1(run_op("Max", 13, {a, b}))), (V{2, 2, 3}));
  EXPECT_EQ(values(ok1(run_op("Min", 13, {i64v({5, -1}), i64v({3, 0})}))), (V{3, -1}));
  EXPECT_EQ(values(ok1(run_op("Sum", 6, {a}))), (V{1, 2, 3}));
  Tensor m = ok1(run_op("Max", 13, {f32v({kNaN, 1}), f32v({1, kNaN})}));
  EXPECT_TRUE(std::isnan(m.get_as_double(0)) && std::isnan(m.get_as_double(1)));
  expect_error(run_op("Sum", 13, {a, i32v({1})}), "dtype");
  expect_error(run_op("Mean", 13, {i32v({1})}), "dtype");
}

// --- unary ---------------------------------------------------------------------------------------

TEST(CpuElementwise, RoundIsHalfToEven) {
  Tensor y = ok1(run_op("Round", 11, {f32v({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f})}));
  EXPECT_EQ(values(y), (V{0, 2, 2, 0, -2, 2}));
}

TEST(CpuElementwise, UnaryMathAndActivations) {
  EXPECT_EQ(values(ok1(run_op("Relu", 14, {f32v({-1, 0, 3})}))), (V{0, 0, 3}));
  EXPECT_EQ(values(ok1(run_op("Relu", 14, {make<int8_t>({2}, {-128, 5})}))), (V{0, 5}));
  EXPECT_EQ(values(ok1(run_op("Abs", 13, {make<int8_t>({2}, {-128, -5})}))), (V{-128, 5}));
  EXPECT_EQ(values(ok1(run_op("Neg", 13, {i32v({INT32_MIN, 3})}))),
            (V{static_cast<double>(INT32_MIN), -3}));
  expect_error(run_op("Neg", 13, {make<uint8_t>({1}, {1})}), "dtype");
  EXPECT_EQ(values(ok1(run_op("Sign", 13, {f32v({-3, 0, 2})}))), (V{-1, 0, 1}));
  EXPECT_EQ(values(ok1(run_op("LeakyRelu", 16, {f32v({-2, 2})}, {{"alpha", float_attr(0.5f)}}))),
            (V{-1, 2}));
  EXPECT_EQ(values(ok1(run_op("ThresholdedRelu", 10, {f32v({1, 2})}))), (V{0, 2}));
  EXPECT_EQ(values(ok1(run_op("HardSigmoid", 6, {f32v({-10, 0, 10})}))), (V{0, 0.5, 1}));
  EXPECT_EQ(values(ok1(run_op("HardSwish", 14, {f32v({-4, 0, 4})}))), (V{0, 0, 4}));
  EXPECT_EQ(values(ok1(run_op("Shrink", 9, {f32v({-2, 0.3f, 2})}, {{"bias", float_attr(1)}}))),
            (V{-1, 0, 1}));
  EXPECT_EQ(values(ok1(run_op("Shrink", 9, {i32v({-2, 0, 2})}, {{"bias", float_attr(1)}}))),
            (V{-1, 0, 1}));
  EXPECT_EQ(values(ok1(run_op("Reciprocal", 13, {f32v({4})}))), (V{0.25}));
  Tensor s = ok1(run_op("Sigmoid", 13, {f32v({0, -1000, 1000})}));
  EXPECT_EQ(values(s), (V{0.5, 0, 1}));
  Tensor sp = ok1(run_op("Softplus", 1, {f32v({0, 100})}));
  EXPECT_NEAR(sp.get_as_double(0), std::log(2.0), 1e-6);
  EXPECT_NEAR(sp.get_as_double(1), 100.0, 1e-4);  // no overflow of exp(100)
  Tensor e = ok1(run_op("Elu", 6, {f32v({-1, 1})}, {{"alpha", float_attr(2)}}));
  EXPECT_NEAR(e.get_as_double(0), 2 * (std::exp(-1.0) - 1), 1e-6);
  EXPECT_EQ(e.get_as_double(1), 1);
  expect_error(run_op("Exp", 13, {i32v({1})}), "dtype");
}

TEST(CpuElementwise, GeluBothApproximations) {
  Tensor x = f32v({-1, 0, 1});
  Tensor exact = ok1(run_op("Gelu", 20, {x}));
  EXPECT_NEAR(exact.get_as_double(2), 0.8413447460685429, 1e-6);
  Tensor t = ok1(run_op("Gelu", 20, {x}, {{"approximate", str_attr("tanh")}}));
  EXPECT_NEAR(t.get_as_double(2), 0.8411919906082768, 1e-6);
  EXPECT_NEAR(t.get_as_double(0), -0.15880800939172324, 1e-6);
  expect_error(run_op("Gelu", 20, {x}, {{"approximate", str_attr("fast")}}), "approximate");
}

TEST(CpuElementwise, IsNaNIsInf) {
  Tensor x = f32v({kNaN, kInf, -kInf, 1});
  EXPECT_EQ(values(ok1(run_op("IsNaN", 13, {x}))), (V{1, 0, 0, 0}));
  EXPECT_EQ(values(ok1(run_op("IsInf", 10, {x}))), (V{0, 1, 1, 0}));
  EXPECT_EQ(values(ok1(run_op("IsInf", 10, {x}, {{"detect_negative", int_attr(0)}}))),
            (V{0, 1, 0, 0}));
}

TEST(CpuElementwise, ClipAttributesAndInputs) {
  Tensor x = f32v({-5, 0, 5, kNaN});
  Tensor a = ok1(run_op("Clip", 6, {x}, {{"min", float_attr(-1)}, {"max", float_attr(1)}}));
  EXPECT_EQ(values(a)[0], -1);
  EXPECT_EQ(values(a)[2], 1);
  EXPECT_TRUE(std::isnan(a.get_as_double(3)));
  Tensor b = ok1(run_op("Clip", 13, {x, Tensor(), f32({}, {2})}));
  EXPECT_EQ(values(b)[0], -5);
  EXPECT_EQ(values(b)[2], 2);
  // min > max: every value becomes max.
  Tensor c = ok1(
      run_op("Clip", 13,
             {make<int8_t>({3}, {-100, 0, 100}), make<int8_t>({}, {5}), make<int8_t>({}, {1})}));
  EXPECT_EQ(values(c), (V{1, 1, 1}));
  expect_error(run_op("Clip", 13, {x, f32v({1, 2})}), "scalar");
  expect_error(run_op("Clip", 13, {x, i32v({1})}), "dtype");
}

// --- Cast ----------------------------------------------------------------------------------------

TEST(CpuElementwise, CastFloatToIntTruncatesAndSaturates) {
  Tensor x = f32v({-2.7f, 2.7f, kNaN, kInf, -kInf, 3e9f});
  Tensor y = ok1(run_op("Cast", 13, {x}, {{"to", int_attr(6)}}));  // int32
  EXPECT_EQ(y.dtype(), DType::kInt32);
  EXPECT_EQ(values(y), (V{-2, 2, 0, INT32_MAX, INT32_MIN, INT32_MAX}));
  Tensor u = ok1(run_op("Cast", 13, {f32v({-1, 300})}, {{"to", int_attr(2)}}));  // uint8
  EXPECT_EQ(values(u), (V{0, 255}));
}

TEST(CpuElementwise, CastBetweenOtherTypes) {
  Tensor b = ok1(run_op("Cast", 13, {f32v({0, -0.0f, 0.1f, kNaN})}, {{"to", int_attr(9)}}));
  EXPECT_EQ(values(b), (V{0, 0, 1, 1}));
  Tensor f = ok1(run_op("Cast", 13, {boolv({true, false})}, {{"to", int_attr(1)}}));
  EXPECT_EQ(values(f), (V{1, 0}));
  Tensor w = ok1(run_op("Cast", 13, {make<uint8_t>({1}, {200})}, {{"to", int_attr(3)}}));
  EXPECT_EQ(values(w), (V{-56}));  // integer -> integer wraps
  // 1 + 2^-11 + 2^-30 is just above the half-way point between two halves: rounds up when
  // rounded once (a double -> float -> half path would round to the tie and then to even).
  Tensor h = ok1(run_op("Cast", 13,
                        {make<double>({1}, {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -30)})},
                        {{"to", int_attr(10)}}));
  EXPECT_EQ(h.dtype(), DType::kFloat16);
  EXPECT_EQ(h.get_as_double(0), 1.0 + std::ldexp(1.0, -10));
  Tensor bf = ok1(run_op("Cast", 13, {f32v({1.00390625f})}, {{"to", int_attr(16)}}));
  EXPECT_EQ(bf.get_as_double(0), 1.0);  // tie rounds to even
  Tensor like = ok1(run_op("CastLike", 15, {f32v({1.5f}), i64v({0})}));
  EXPECT_EQ(like.dtype(), DType::kInt64);
  EXPECT_EQ(values(like), (V{1}));
}

TEST(CpuElementwise, CastErrors) {
  expect_error(run_op("Cast", 13, {f32v({1})}, {{"to", int_attr(8)}}), "string",
               StatusCode::kUnsupported);
  expect_error(run_op("Cast", 13, {f32v({1})}, {{"to", int_attr(12345)}}), "12345",
               StatusCode::kUnsupported);
  expect_error(run_op("Cast", 13, {f32v({1})}), "'to'");
}

// --- Identity, Dropout ---------------------------------------------------------------------------

TEST(CpuElementwise, IdentityAndInferenceDropout) {
  EXPECT_EQ(values(ok1(run_op("Identity", 16, {i32v({4, 5})}))), (V{4, 5}));
  auto r = run_op("Dropout", 13, {f32v({1, 2})}, {}, 2);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ(values((*r)[0]), (V{1, 2}));
  EXPECT_EQ((*r)[1].dtype(), DType::kBool);
  EXPECT_EQ(values((*r)[1]), (V{1, 1}));
  auto old = run_op("Dropout", 7, {f32v({1, 2})}, {{"ratio", float_attr(0.3f)}}, 2);
  ASSERT_TRUE(old.has_value()) << old.status().to_string();
  EXPECT_EQ((*old)[1].dtype(), DType::kFloat32);  // mask has the input's type before opset 10
}

TEST(CpuElementwise, TrainingDropout) {
  Tensor x = f32v({1, 2});
  Tensor yes = make<bool>({}, {true});
  expect_error(run_op("Dropout", 13, {x, Tensor(), yes}), "training", StatusCode::kUnsupported);
  // A zero ratio is deterministic even in training mode.
  auto r = run_op("Dropout", 13, {x, f32({}, {0}), yes}, {}, 2);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ(values((*r)[0]), (V{1, 2}));
  EXPECT_EQ(values((*r)[1]), (V{1, 1}));
  expect_error(run_op("Dropout", 13, {x, f32({}, {2})}), "ratio");
  expect_error(run_op("Dropout", 13, {x, Tensor(), f32v({1})}), "training_mode");
}

// --- threading -----------------------------------------------------------------------------------

TEST(CpuElementwise, BroadcastResultIndependentOfThreadCount) {
  Tensor a = Tensor::create(DType::kFloat32, {64, 1, 700}).value();
  Tensor b = Tensor::create(DType::kFloat32, {5, 1}).value();
  for (int64_t i = 0; i < a.numel(); ++i) a.data<float>()[i] = static_cast<float>(i % 97);
  for (int64_t i = 0; i < b.numel(); ++i) b.data<float>()[i] = static_cast<float>(i) * 0.5f;
  Tensor y1 = ok1(run_op("Mul", 14, {a, b}, {}, 1, 1));
  Tensor y4 = ok1(run_op("Mul", 14, {a, b}, {}, 1, 4));
  ASSERT_EQ(y1.shape(), (Shape{64, 5, 700}));
  EXPECT_EQ(values(y1), values(y4));
  // Spot check: y[i, j, k] = a[i, 0, k] * b[j, 0].
  EXPECT_EQ(y1.get_as_double((3 * 5 + 2) * 700 + 11), ((3 * 700 + 11) % 97) * 1.0);
}

}  // namespace
}  // namespace kiln::cpu
