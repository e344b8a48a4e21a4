// Tests for the `kiln compare` metrics (runtime/tools/compare.h): cosine similarity of known
// vectors, argmax agreement over the last axis, max abs / rel errors and the tolerance verdict,
// exact equality for integers, dtype and shape mismatches, and NaN / Inf handling.
#include "runtime/tools/compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "runtime/core/half.h"

namespace kiln::tools {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

Tensor f32(const Shape& s, const std::vector<float>& v) {
  return Tensor::from_vector(s, v);
}

TEST(CompareCosine, KnownVectors) {
  // [1, 0] vs [0, 1]: orthogonal.
  EXPECT_DOUBLE_EQ(cosine_similarity(f32({2}, {1, 0}), f32({2}, {0, 1})), 0.0);
  // Parallel with different lengths: 1.
  EXPECT_NEAR(cosine_similarity(f32({3}, {1, 2, 3}), f32({3}, {2, 4, 6})), 1.0, 1e-15);
  // Opposite: -1.
  EXPECT_NEAR(cosine_similarity(f32({2}, {1, 1}), f32({2}, {-1, -1})), -1.0, 1e-15);
  // [1, 2, 3] . [4, 5, 6] = 32; |a| = sqrt(14), |b| = sqrt(77).
  EXPECT_NEAR(cosine_similarity(f32({3}, {1, 2, 3}), f32({3}, {4, 5, 6})),
              32.0 / std::sqrt(14.0 * 77.0), 1e-15);
  // [3, 4] vs [4, 3]: 24 / 25. Shapes do not matter, only the flat values.
  EXPECT_NEAR(cosine_similarity(f32({1, 2}, {3, 4}), f32({2}, {4, 3})), 0.96, 1e-15);
}

TEST(CompareCosine, ZeroAndEmpty) {
  EXPECT_DOUBLE_EQ(cosine_similarity(f32({2}, {0, 0}), f32({2}, {0, 0})), 1.0);
  EXPECT_DOUBLE_EQ(cosine_similarity(f32({2}, {0, 0}), f32({2}, {1, 0})), 0.0);
  EXPECT_DOUBLE_EQ(cosine_similarity(f32({0}, {}), f32({0}, {})), 1.0);
  EXPECT_TRUE(std::isnan(cosine_similarity(f32({2}, {1, 2}), f32({3}, {1, 2, 3}))));
}

TEST(CompareCosine, SkipsNonFinitePositions) {
  // The NaN / Inf positions are left out: [1, 0] vs [1, 0] remain.
  EXPECT_DOUBLE_EQ(cosine_similarity(f32({4}, {1, kNaN, 0, 5}), f32({4}, {1, 2, 0, kInf})), 1.0);
}

TEST(CompareCosine, HugeValuesDoNotOverflow) {
  // Squares of 1e300 overflow double; the result must still be 1.
  Tensor a = Tensor::from_vector<double>({2}, {1e300, 1e300});
  Tensor b = Tensor::from_vector<double>({2}, {2e300, 2e300});
  EXPECT_NEAR(cosine_similarity(a, b), 1.0, 1e-12);
}

TEST(CompareArgmax, LastAxisRows) {
  // 3 rows of 3: argmax a = 2, 0, 1; b = 2, 1, 1 -> 2 of 3 agree.
  Tensor a = f32({3, 3}, {0, 1, 2, 5, 4, 3, 0, 9, 1});
  Tensor b = f32({3, 3}, {1, 1, 3, 4, 5, 3, 0, 8, 7});
  EXPECT_NEAR(argmax_agreement(a, b), 2.0 / 3.0, 1e-15);
  EXPECT_DOUBLE_EQ(argmax_agreement(a, a), 1.0);
}

TEST(CompareArgmax, FirstMaximumWinsAndNaNIsMax) {
  // Ties: the first maximum (index 0) in both.
  EXPECT_DOUBLE_EQ(argmax_agreement(f32({1, 3}, {2, 2, 1}), f32({1, 3}, {2, 1, 2})), 1.0);
  // NaN at index 1 counts as the maximum; the other row's max is at index 2.
  EXPECT_DOUBLE_EQ(argmax_agreement(f32({3}, {0, kNaN, 1}), f32({3}, {0, 0, 1})), 0.0);
  EXPECT_DOUBLE_EQ(argmax_agreement(f32({3}, {0, kNaN, 1}), f32({3}, {0, kNaN, 5})), 1.0);
}

TEST(CompareArgmax, ScalarsEmptyAndShapes) {
  EXPECT_DOUBLE_EQ(argmax_agreement(Tensor::scalar(1.0f), Tensor::scalar(2.0f)), 1.0);
  EXPECT_TRUE(std::isnan(argmax_agreement(f32({2, 0}, {}), f32({2, 0}, {}))));
  EXPECT_TRUE(std::isnan(argmax_agreement(f32({2, 2}, {1, 2, 3, 4}), f32({4}, {1, 2, 3, 4}))));
}

TEST(CompareDiff, ErrorsAndTolerance) {
  Tensor a = f32({4}, {1.0f, 2.0f, -3.0f, 0.5f});
  Tensor ref = f32({4}, {1.0f, 2.5f, -2.0f, 0.5f});
  TensorDiff d = diff_tensors(a, ref, 1e-4, 1e-3);
  EXPECT_FALSE(d.ok);
  EXPECT_TRUE(d.comparable);
  EXPECT_TRUE(d.is_float);
  EXPECT_EQ(d.count, 4);
  EXPECT_EQ(d.equal, 2);
  EXPECT_EQ(d.mismatches, 2);
  EXPECT_EQ(d.first_mismatch, 1);
  EXPECT_DOUBLE_EQ(d.max_abs, 1.0);  // |-3 - -2|
  EXPECT_DOUBLE_EQ(d.max_rel, 0.5);  // 1 / |-2|
  // argmax of [1, 2, -3, 0.5] is 1, of the reference 1 as well.
  EXPECT_DOUBLE_EQ(d.argmax_agreement, 1.0);
  EXPECT_FALSE(d.message.empty());

  // A tolerance that covers both: |d| <= atol + rtol * |ref|: 0.5 <= 0 + 0.5 * 2.5 and
  // 1 <= 0 + 0.5 * 2.
  EXPECT_TRUE(diff_tensors(a, ref, 0, 0.5).ok);
  // Just below for the second value: 1 > 0.4 + 0.25 * 2.
  EXPECT_FALSE(diff_tensors(a, ref, 0.4, 0.25).ok);
  // The bound is inclusive: 0.5 <= 0.5 + 0 and 1 <= 0.5 + 0.25 * 2.
  EXPECT_TRUE(diff_tensors(a, ref, 0.5, 0.25).ok);
}

TEST(CompareDiff, ZeroToleranceNeedsBitEquality) {
  Tensor a = f32({2}, {1.0f, std::nextafter(1.0f, 2.0f)});
  Tensor b = f32({2}, {1.0f, 1.0f});
  TensorDiff d = diff_tensors(a, b, 0, 0);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.mismatches, 1);
  EXPECT_GT(d.max_abs, 0);
  EXPECT_TRUE(diff_tensors(b, b, 0, 0).ok);
}

TEST(CompareDiff, NaNHandling) {
  // NaN in both at the same place: equal.
  TensorDiff same = diff_tensors(f32({2}, {kNaN, 1}), f32({2}, {kNaN, 1}), 0, 0);
  EXPECT_TRUE(same.ok);
  EXPECT_EQ(same.equal, 2);
  EXPECT_DOUBLE_EQ(same.max_abs, 0);
  EXPECT_DOUBLE_EQ(same.cosine, 1.0);
  // NaN on one side: a mismatch with an infinite error, whatever the tolerance.
  TensorDiff one = diff_tensors(f32({2}, {kNaN, 1}), f32({2}, {0, 1}), 1e9, 1e9);
  EXPECT_FALSE(one.ok);
  EXPECT_EQ(one.mismatches, 1);
  EXPECT_TRUE(std::isinf(one.max_abs));
  EXPECT_TRUE(std::isinf(one.max_rel));
  TensorDiff other = diff_tensors(f32({1}, {2}), f32({1}, {kNaN}), 1e9, 1e9);
  EXPECT_FALSE(other.ok);
}

TEST(CompareDiff, Infinities) {
  EXPECT_TRUE(diff_tensors(f32({2}, {kInf, -kInf}), f32({2}, {kInf, -kInf}), 0, 0).ok);
  EXPECT_FALSE(diff_tensors(f32({1}, {kInf}), f32({1}, {-kInf}), 1, 1).ok);
  EXPECT_FALSE(diff_tensors(f32({1}, {kInf}), f32({1}, {1e30f}), 1, 1).ok);
}

TEST(CompareDiff, IntegersMustBeEqual) {
  Tensor a = Tensor::from_vector<int64_t>({4}, {1, 2, 3, 1000000});
  Tensor b = Tensor::from_vector<int64_t>({4}, {1, 2, 4, 1000001});
  // rtol 1e-3 would allow 1000000 vs 1000001 for floats; integers need exact equality.
  TensorDiff d = diff_tensors(a, b, 1e-4, 1e-3);
  EXPECT_FALSE(d.ok);
  EXPECT_FALSE(d.is_float);
  EXPECT_EQ(d.equal, 2);
  EXPECT_EQ(d.mismatches, 2);
  EXPECT_DOUBLE_EQ(d.max_abs, 1.0);
  EXPECT_DOUBLE_EQ(d.max_rel, 0.25);
  EXPECT_TRUE(std::isnan(d.cosine));
  EXPECT_TRUE(std::isnan(d.argmax_agreement));
  // Large int64 values that double cannot tell apart still differ.
  const int64_t big = (int64_t{1} << 60);
  EXPECT_FALSE(diff_tensors(Tensor::from_vector<int64_t>({1}, {big}),
                            Tensor::from_vector<int64_t>({1}, {big + 1}), 0, 0)
                   .ok);
  Tensor t = Tensor::from_vector<bool>({3}, {true, false, true});
  Tensor u = Tensor::from_vector<bool>({3}, {true, true, true});
  TensorDiff bd = diff_tensors(t, u, 0, 0);
  EXPECT_FALSE(bd.ok);
  EXPECT_EQ(bd.equal, 2);
  EXPECT_TRUE(diff_tensors(t, t, 0, 0).ok);
}

TEST(CompareDiff, Float16) {
  Tensor a = Tensor::from_vector<Half>({2}, {Half(1.0f), Half(2.0f)});
  Tensor b = Tensor::from_vector<Half>({2}, {Half(1.0f), Half(2.001953125f)});  // next half
  TensorDiff d = diff_tensors(a, b, 0, 0);
  EXPECT_TRUE(d.is_float);
  EXPECT_FALSE(d.ok);
  EXPECT_DOUBLE_EQ(d.max_abs, 0.001953125);
  EXPECT_TRUE(diff_tensors(a, b, 0.002, 0).ok);
}

TEST(CompareDiff, DtypeAndShapeMismatch) {
  TensorDiff dt =
      diff_tensors(f32({2}, {1, 2}), Tensor::from_vector<double>({2}, {1, 2}), 1e-4, 1e-3);
  EXPECT_FALSE(dt.ok);
  EXPECT_FALSE(dt.comparable);
  EXPECT_NE(dt.message.find("dtype"), std::string::npos);
  TensorDiff sh = diff_tensors(f32({2}, {1, 2}), f32({1, 2}, {1, 2}), 1e-4, 1e-3);
  EXPECT_FALSE(sh.ok);
  EXPECT_FALSE(sh.comparable);
  EXPECT_NE(sh.message.find("shape"), std::string::npos);
}

TEST(CompareDiff, EmptyTensorsAgree) {
  TensorDiff d = diff_tensors(f32({0, 3}, {}), f32({0, 3}, {}), 0, 0);
  EXPECT_TRUE(d.ok);
  EXPECT_EQ(d.count, 0);
  EXPECT_DOUBLE_EQ(d.cosine, 1.0);
  EXPECT_TRUE(std::isnan(d.argmax_agreement));
}

}  // namespace
}  // namespace kiln::tools
