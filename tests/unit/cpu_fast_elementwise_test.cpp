// Unit tests for the vectorised float32 elementwise paths (runtime/cpu/fast/vec_math.h and the
// kernels that use it): vec_exp against std::exp (ulp bound), and Add/Sub/Mul/Div, Pow x^2,
// Softmax and LogSoftmax run fast against the same kernels on their reference loops, on odd sizes,
// the common broadcast patterns and special values, with both the AVX2 and the portable loops.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/cpu/fast/vec_math.h"
#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// Restores the default switches after each test.
class FastElementwise : public ::testing::TestWithParam<fast::VecIsa> {
 protected:
  void SetUp() override { fast::set_vec_isa_for_testing(GetParam()); }
  void TearDown() override {
    fast::set_vec_isa_for_testing(fast::vec_best_isa());
    fast::set_elementwise_fast_for_testing(true);
  }
};

int64_t ulp_diff(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  // Map to a monotonic integer line (-0 and +0 both 0).
  const int64_t la = ia < 0 ? -static_cast<int64_t>(ia & 0x7fffffff) : ia;
  const int64_t lb = ib < 0 ? -static_cast<int64_t>(ib & 0x7fffffff) : ib;
  return la > lb ? la - lb : lb - la;
}

// Values with special cases mixed in: NaN, +-inf, +-0, denormals, huge magnitudes.
std::vector<float> test_values(int64_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  const float specials[] = {kNaN, kInf, -kInf, 0.0f, -0.0f, 1e-40f, -1e-42f, 3e38f, -3e38f, 1.0f};
  if (n >= 13)
    for (int64_t i = 0; i < 10; ++i) v[(i * 7919) % n] = specials[i];
  return v;
}

bool same_bits_or_both_nan(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, 4) == 0;
}

Tensor run_both(const std::string& op, int opset, const std::vector<Tensor>& in,
                const AttrMap& attrs, Tensor* ref, int threads = 2) {
  fast::set_elementwise_fast_for_testing(false);
  *ref = ok1(run_op(op, opset, in, attrs, 1, threads));
  fast::set_elementwise_fast_for_testing(true);
  return ok1(run_op(op, opset, in, attrs, 1, threads));
}

// --- exp ----------------------------------------------------------------------------------------

// Bound: within 2 ulp of std::exp for normal results, within one denormal step (2^-149) for
// denormal ones; exact at the special values.
TEST_P(FastElementwise, ExpWithinTwoUlpOfStdExp) {
  std::vector<float> x;
  for (float v = -104.5f; v < 89.5f; v += 0.000731f) x.push_back(v);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> y(n);
  fast::vec_exp(x.data(), y.data(), n);
  int64_t worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float r = std::exp(x[i]);
    if (std::fabs(r) < std::numeric_limits<float>::min()) {
      ASSERT_LE(std::fabs(y[i] - r), std::ldexp(1.0f, -149)) << "x = " << x[i];
    } else {
      const int64_t d = ulp_diff(y[i], r);
      worst = std::max(worst, d);
      ASSERT_LE(d, 2) << "x = " << x[i] << " fast " << y[i] << " std " << r;
    }
  }
  const std::vector<float> sx = {0.0f, -0.0f, kInf, -kInf, kNaN, 200.0f, -200.0f, 88.7f, 88.73f};
  std::vector<float> sy(sx.size());
  fast::vec_exp(sx.data(), sy.data(), static_cast<int64_t>(sx.size()));
  EXPECT_EQ(sy[0], 1.0f);
  EXPECT_EQ(sy[1], 1.0f);
  EXPECT_EQ(sy[2], kInf);
  EXPECT_EQ(sy[3], 0.0f);
  EXPECT_TRUE(std::isnan(sy[4]));
  EXPECT_EQ(sy[5], kInf);
  EXPECT_EQ(sy[6], 0.0f);
  EXPECT_LE(ulp_diff(sy[7], std::exp(88.7f)), 2);
  EXPECT_EQ(sy[8], kInf);
}

// --- Add Sub Mul Div: bit-equal to the reference ------------------------------------------------

struct BinCase {
  Shape a, b;
};

TEST_P(FastElementwise, ArithmeticBitEqualToReference) {
  const std::vector<BinCase> cases = {
      {{1}, {1}},
      {{13}, {13}},
      {{127}, {127}},
      {{1000003}, {1000003}},
      {{127}, {}},
      {{}, {13}},
      {{1000003}, {1}},
      {{5, 127}, {127}},
      {{127}, {5, 127}},
      {{2, 3, 13, 127}, {2, 1, 1, 127}},
      {{2, 1, 1, 13}, {2, 3, 5, 13}},
      {{3, 13}, {3, 1}},
      {{3, 1}, {1, 13}},
      {{}, {}},
      {{0, 13}, {13}},
  };
  uint32_t seed = 1;
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    for (const auto& c : cases) {
      SCOPED_TRACE(std::string(op) + " " + shape_to_string(c.a) + " " + shape_to_string(c.b));
      const Tensor a = f32(c.a, test_values(numel_of(c.a), seed++, 1e3f));
      const Tensor b = f32(c.b, test_values(numel_of(c.b), seed++, 1e-3f));
      Tensor ref;
      const Tensor y = run_both(op, 14, {a, b}, {}, &ref);
      ASSERT_EQ(y.shape(), ref.shape());
      const float* py = y.data<float>();
      const float* pr = ref.data<float>();
      for (int64_t i = 0; i < y.numel(); ++i)
        ASSERT_TRUE(same_bits_or_both_nan(py[i], pr[i])) << i << ": " << py[i] << " vs " << pr[i];
    }
  }
}

TEST_P(FastElementwise, LegacyBroadcastAttributeStillWorks) {
  // Opset 6 `broadcast` / `axis`: B [3] against A [2, 3, 4] at axis 1.
  const Tensor a = f32({2, 3, 4}, test_values(24, 7, 2.0f));
  const Tensor b = f32({3}, {1.5f, -2.0f, 0.25f});
  Tensor ref;
  const Tensor y =
      run_both("Mul", 6, {a, b}, {{"broadcast", int_attr(1)}, {"axis", int_attr(1)}}, &ref);
  for (int64_t i = 0; i < y.numel(); ++i)
    ASSERT_TRUE(same_bits_or_both_nan(y.data<float>()[i], ref.data<float>()[i]));
}

TEST_P(FastElementwise, PowSquareBitEqualToReference) {
  const std::vector<std::pair<Shape, Tensor>> cases = {
      {{1000003}, f32({}, {2.0f})}, {{13}, i64({1}, {2})}, {{2, 127}, f32({1, 1, 1}, {2.0f})},
      {{127}, f32({}, {3.0f})},  // not a square: the reference loop
      {{0}, f32({}, {2.0f})},
  };
  uint32_t seed = 50;
  for (const auto& [s, e] : cases) {
    SCOPED_TRACE(shape_to_string(s) + " ^ " + shape_to_string(e.shape()));
    const Tensor a = f32(s, test_values(numel_of(s), seed++, 1e19f));
    Tensor ref;
    const Tensor y = run_both("Pow", 15, {a, e}, {}, &ref);
    ASSERT_EQ(y.shape(), ref.shape());
    for (int64_t i = 0; i < y.numel(); ++i)
      ASSERT_TRUE(same_bits_or_both_nan(y.data<float>()[i], ref.data<float>()[i])) << i;
  }
}

// --- Softmax / LogSoftmax -----------------------------------------------------------------------

// Bounds against the reference (double arithmetic, rounded once): Softmax within 4 ulp of the
// reference value (or 2^-146 absolute for denormal results); LogSoftmax within 4e-7 + 1 ulp of
// |reference| (the sum's float exps move log(sum) by at most ~2.4e-7).
void expect_soft_close(const Tensor& y, const Tensor& ref, bool log) {
  const float* py = y.data<float>();
  const float* pr = ref.data<float>();
  for (int64_t i = 0; i < y.numel(); ++i) {
    if (std::isnan(pr[i])) {
      ASSERT_TRUE(std::isnan(py[i])) << i;
      continue;
    }
    if (std::isinf(pr[i])) {
      ASSERT_EQ(py[i], pr[i]) << i;
      continue;
    }
    if (log) {
      ASSERT_LE(std::fabs(py[i] - pr[i]), 4e-7f + std::ldexp(std::fabs(pr[i]), -23))
          << i << ": " << py[i] << " vs " << pr[i];
    } else if (std::fabs(pr[i]) < std::numeric_limits<float>::min()) {
      ASSERT_LE(std::fabs(py[i] - pr[i]), std::ldexp(1.0f, -146)) << i;
    } else {
      ASSERT_LE(ulp_diff(py[i], pr[i]), 4) << i << ": " << py[i] << " vs " << pr[i];
    }
  }
}

TEST_P(FastElementwise, SoftmaxCloseToReference) {
  const std::vector<Shape> shapes = {{1}, {13}, {127}, {3, 127}, {2, 12, 13, 129}, {1000003}};
  uint32_t seed = 100;
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (const auto& s : shapes) {
      for (float scale : {1.0f, 30.0f}) {
        SCOPED_TRACE(std::string(op) + " " + shape_to_string(s) + " scale " +
                     std::to_string(scale));
        std::vector<float> v(numel_of(s));
        std::mt19937 rng(seed++);
        std::normal_distribution<float> nd(0.0f, scale);
        for (auto& x : v) x = nd(rng);
        // Masked entries as attention masks make them: -inf, -1e4, the float minimum.
        if (v.size() >= 13) {
          v[3] = -kInf;
          v[5] = -1e4f;
          v[7] = std::numeric_limits<float>::lowest();
          v[9] = 1e-40f;
        }
        Tensor ref;
        const Tensor y = run_both(op, 13, {f32(s, v)}, {}, &ref);
        expect_soft_close(y, ref, std::string(op) == "LogSoftmax");
      }
    }
  }
}

TEST_P(FastElementwise, SoftmaxSpecialRowsMatchReference) {
  // Rows: a NaN; a +inf; all -inf; -inf mixed with finite; huge magnitudes; denormals.
  const int64_t n = 13;
  std::vector<float> v(6 * n, 0.5f);
  v[0 * n + 4] = kNaN;
  v[1 * n + 12] = kInf;
  for (int64_t i = 0; i < n; ++i) v[2 * n + i] = -kInf;
  for (int64_t i = 0; i < n; i += 2) v[3 * n + i] = -kInf;
  for (int64_t i = 0; i < n; ++i) v[4 * n + i] = (i % 2 ? 3e38f : -3e38f);
  for (int64_t i = 0; i < n; ++i) v[5 * n + i] = 1e-41f * static_cast<float>(i);
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    SCOPED_TRACE(op);
    Tensor ref;
    const Tensor y = run_both(op, 13, {f32({6, n}, v)}, {}, &ref);
    expect_soft_close(y, ref, std::string(op) == "LogSoftmax");
  }
}

TEST_P(FastElementwise, SoftmaxOtherAxesAndOpsets) {
  const Tensor x = f32({2, 3, 5}, test_values(30, 9, 3.0f));
  for (int opset : {11, 13}) {
    for (int64_t axis : {0, 1, -1}) {
      SCOPED_TRACE("opset " + std::to_string(opset) + " axis " + std::to_string(axis));
      Tensor ref;
      const Tensor y = run_both("Softmax", opset, {x}, {{"axis", int_attr(axis)}}, &ref);
      expect_soft_close(y, ref, false);
    }
  }
}

TEST_P(FastElementwise, SameResultForAnyThreadCount) {
  const Tensor a = f32({64, 257}, test_values(64 * 257, 3, 5.0f));
  const Tensor b = f32({257}, test_values(257, 4, 5.0f));
  for (const char* op : {"Add", "Softmax"}) {
    std::vector<Tensor> in = {a};
    if (std::string(op) == "Add") in.push_back(b);
    const Tensor y1 = ok1(run_op(op, 13, in, {}, 1, 1));
    const Tensor y2 = ok1(run_op(op, 13, in, {}, 1, 2));
    ASSERT_EQ(std::memcmp(y1.data<float>(), y2.data<float>(), y1.numel() * 4), 0) << op;
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, FastElementwise,
                         ::testing::Values(fast::VecIsa::kGeneric, fast::VecIsa::kAvx2),
                         [](const auto& info) {
                           return info.param == fast::VecIsa::kAvx2 ? "avx2" : "generic";
                         });

}  // namespace
}  // namespace kiln::cpu
