// Unit tests for the vectorised float32 elementwise paths (runtime/cpu/fast/vec_math.h and the
// kernels that use it): vec_exp against std::exp (ulp bound), and Add/Sub/Mul/Div, Pow x^2,
// Softmax and LogSoftmax run fast against the same kernels on their reference loops, on odd sizes,
// the common broadcast patterns and special values, with the AVX-512, AVX2 and portable loops
// (AVX-512 skipped on CPUs without it). The AVX-512 loops are also checked bit for bit against the
// AVX2 ones (FastVecAvx512).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/cpu/fast/vec_kernels.h"
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
  void SetUp() override {
    if (!fast::vec_cpu_supports(GetParam())) GTEST_SKIP() << "the CPU lacks this instruction set";
    fast::set_vec_isa_for_testing(GetParam());
  }
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
                         ::testing::Values(fast::VecIsa::kGeneric, fast::VecIsa::kAvx2,
                                           fast::VecIsa::kAvx512),
                         [](const auto& info) {
                           return info.param == fast::VecIsa::kAvx512 ? "avx512"
                                  : info.param == fast::VecIsa::kAvx2 ? "avx2"
                                                                      : "generic";
                         });

// --- AVX-512 loops against the AVX2 loops (bit for bit) and the reference ------------------------

// Runs each test on a CPU with AVX-512 (and so AVX2); restores the default loops after.
class FastVecAvx512 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fast::vec_cpu_supports(fast::VecIsa::kAvx512)) GTEST_SKIP() << "the CPU lacks AVX-512";
  }
  void TearDown() override { fast::set_vec_isa_for_testing(fast::vec_best_isa()); }
};

// Sizes around the 8- and 16-lane steps and their masked tails.
const std::vector<int64_t> kVecSizes = {1, 7, 15, 16, 17, 31, 127, 1000};

// Normal values of the given scale with special ones at every fifth element (so in the tails
// too): +-0, +-inf, NaN, denormals, huge magnitudes and the exp clamp edges.
std::vector<float> vec_values(int64_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  const float specials[] = {0.0f,  -0.0f,  kInf,  -kInf,   kNaN,    1e-40f, -1e-42f, 1.4e-45f,
                            3e38f, -3e38f, 88.8f, -104.5f, -103.9f, 89.0f,  -87.5f,  100.0f};
  for (int64_t i = 0, k = static_cast<int64_t>(seed); i < n; i += 5, ++k) v[i] = specials[k % 16];
  return v;
}

void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b,
                      const std::vector<float>& x) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_TRUE(same_bits_or_both_nan(a[i], b[i]))
        << i << " x = " << x[i] << ": avx512 " << a[i] << " avx2 " << b[i];
}

TEST_F(FastVecAvx512, BinaryBitEqualToAvx2AndReference) {
  const fast::VecBinOp ops[] = {fast::VecBinOp::kAdd, fast::VecBinOp::kSub, fast::VecBinOp::kMul,
                                fast::VecBinOp::kDiv};
  uint32_t seed = 400;
  for (int64_t n : kVecSizes) {
    const std::vector<float> a = vec_values(n, seed++, 1e3f), b = vec_values(n, seed++, 1e-3f);
    for (fast::VecBinOp op : ops) {
      for (int sa = 0; sa <= 1; ++sa) {
        for (int sb = 0; sb <= 1; ++sb) {
          SCOPED_TRACE("n " + std::to_string(n) + " op " + std::to_string(static_cast<int>(op)) +
                       " sa " + std::to_string(sa) + " sb " + std::to_string(sb));
          std::vector<float> y512(n), y2(n), ref(n);
          fast::set_vec_isa_for_testing(fast::VecIsa::kAvx512);
          fast::vec_binary(op, a.data(), sa, b.data(), sb, y512.data(), n);
          fast::set_vec_isa_for_testing(fast::VecIsa::kAvx2);
          fast::vec_binary(op, a.data(), sa, b.data(), sb, y2.data(), n);
          for (int64_t i = 0; i < n; ++i) {
            const float u = a[i * sa], w = b[i * sb];
            ref[i] = op == fast::VecBinOp::kAdd   ? u + w
                     : op == fast::VecBinOp::kSub ? u - w
                     : op == fast::VecBinOp::kMul ? u * w
                                                  : u / w;
          }
          expect_same_bits(y512, y2, a);
          expect_same_bits(y512, ref, a);
        }
      }
    }
  }
}

// exp: bit-equal to AVX2; within 2 ulp of std::exp for normal results, one denormal step for
// denormal ones, exact specials (the bound vec_math.h states).
TEST_F(FastVecAvx512, ExpBitEqualToAvx2) {
  uint32_t seed = 500;
  for (int64_t n : kVecSizes) {
    SCOPED_TRACE("n " + std::to_string(n));
    const std::vector<float> x = vec_values(n, seed++, 30.0f);
    std::vector<float> y512(n), y2(n);
    fast::set_vec_isa_for_testing(fast::VecIsa::kAvx512);
    fast::vec_exp(x.data(), y512.data(), n);
    fast::set_vec_isa_for_testing(fast::VecIsa::kAvx2);
    fast::vec_exp(x.data(), y2.data(), n);
    expect_same_bits(y512, y2, x);
    for (int64_t i = 0; i < n; ++i) {
      const float r = std::exp(x[i]);
      if (std::isnan(r) || std::isinf(r)) {
        ASSERT_TRUE(same_bits_or_both_nan(y512[i], r)) << "x = " << x[i] << ": " << y512[i];
      } else if (r < std::numeric_limits<float>::min()) {
        ASSERT_LE(std::fabs(y512[i] - r), std::ldexp(1.0f, -149)) << "x = " << x[i];
      } else {
        ASSERT_LE(ulp_diff(y512[i], r), 2) << "x = " << x[i] << ": " << y512[i] << " vs " << r;
      }
    }
  }
  // A dense sweep of the whole finite range of exp.
  std::vector<float> x;
  for (float v = -105.0f; v < 90.0f; v += 0.000377f) x.push_back(v);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> y512(n), y2(n);
  fast::set_vec_isa_for_testing(fast::VecIsa::kAvx512);
  fast::vec_exp(x.data(), y512.data(), n);
  fast::set_vec_isa_for_testing(fast::VecIsa::kAvx2);
  fast::vec_exp(x.data(), y2.data(), n);
  expect_same_bits(y512, y2, x);
}

// The skip-add: bit-equal to AVX2 and to the double sum rounded once.
TEST_F(FastVecAvx512, Add3BitEqualToAvx2AndReference) {
  uint32_t seed = 600;
  for (int64_t n : kVecSizes) {
    const std::vector<float> a = vec_values(n, seed++, 3.0f), c = vec_values(n, seed++, 1e-3f),
                             d = vec_values(n, seed++, 1e4f);
    for (bool with_d : {false, true}) {
      SCOPED_TRACE("n " + std::to_string(n) + (with_d ? " with d" : ""));
      std::vector<float> y512(n), y2(n), ref(n);
      const float* pd = with_d ? d.data() : nullptr;
      fast::set_vec_isa_for_testing(fast::VecIsa::kAvx512);
      fast::vec_add3(a.data(), c.data(), pd, y512.data(), n);
      fast::set_vec_isa_for_testing(fast::VecIsa::kAvx2);
      fast::vec_add3(a.data(), c.data(), pd, y2.data(), n);
      for (int64_t i = 0; i < n; ++i)
        ref[i] = static_cast<float>(static_cast<double>(a[i]) + static_cast<double>(c[i]) +
                                    (with_d ? static_cast<double>(d[i]) : 0.0));
      expect_same_bits(y512, y2, a);
      expect_same_bits(y512, ref, a);
    }
  }
}

// LayerNorm's passes: the row sums (bit-equal to AVX2, close to a double sum) and the output pass
// (bit-equal to AVX2, with and without the shift).
TEST_F(FastVecAvx512, MomentsAndNormApplyBitEqualToAvx2) {
  uint32_t seed = 700;
  for (int64_t n : kVecSizes) {
    const std::vector<float> x = vec_values(n, seed++, 2.0f), g = vec_values(n, seed++, 1.0f),
                             b = vec_values(n, seed++, 0.5f);
    for (bool with_b : {false, true}) {
      SCOPED_TRACE("n " + std::to_string(n) + (with_b ? " with b" : ""));
      std::vector<float> y512(n), y2(n);
      const double mean = 0.3183098861837907, inv = 1.4142135623730951;
      fast::set_vec_isa_for_testing(fast::VecIsa::kAvx512);
      fast::vec_norm_apply(x.data(), n, mean, inv, g.data(), with_b ? b.data() : nullptr,
                           y512.data());
      fast::set_vec_isa_for_testing(fast::VecIsa::kAvx2);
      fast::vec_norm_apply(x.data(), n, mean, inv, g.data(), with_b ? b.data() : nullptr,
                           y2.data());
      expect_same_bits(y512, y2, x);
    }
    // Rows without NaN / inf for the sums; with a large offset, and with magnitudes spread over
    // 2^-20 .. 2^20, so that the double sums round (and a different order would show).
    for (int variant = 0; variant < 3; ++variant) {
      std::vector<float> r = x;
      for (size_t i = 0; i < r.size(); ++i) {
        float& v = r[i];
        v = std::isfinite(v) && std::fabs(v) < 1e3f ? v : 0.5f;
        if (variant == 1) v += 1e4f;
        if (variant == 2) v = std::ldexp(v, static_cast<int>((i * 13) % 41) - 20);
      }
      double s512 = 0, q512 = 0, s2 = 0, q2 = 0;
      fast::set_vec_isa_for_testing(fast::VecIsa::kAvx512);
      fast::vec_moments(r.data(), n, &s512, &q512);
      fast::set_vec_isa_for_testing(fast::VecIsa::kAvx2);
      fast::vec_moments(r.data(), n, &s2, &q2);
      ASSERT_EQ(std::memcmp(&s512, &s2, sizeof(double)), 0) << s512 << " vs " << s2;
      ASSERT_EQ(std::memcmp(&q512, &q2, sizeof(double)), 0) << q512 << " vs " << q2;
      double s = 0, q = 0;
      for (float v : r) {
        s += v;
        q += static_cast<double>(v) * v;
      }
      ASSERT_NEAR(s512, s, 1e-12 * (std::fabs(s) + 1.0));
      ASSERT_NEAR(q512, q, 1e-12 * q);
    }
  }
}

// The softmax row pieces: max (value and bits, has_nan), exp(x - m) with its double sum, the
// scale; and whole Softmax / LogSoftmax rows, all bit-equal to AVX2.
TEST_F(FastVecAvx512, SoftmaxPiecesBitEqualToAvx2) {
  uint32_t seed = 800;
  for (int64_t n : kVecSizes) {
    SCOPED_TRACE("n " + std::to_string(n));
    // Rows: finite values; with -inf entries; all zeros of both signs (a zero maximum);
    // with a NaN; with the specials.
    std::vector<std::vector<float>> rows;
    std::vector<float> r = vec_values(n, seed++, 4.0f);
    for (auto& v : r)
      if (!std::isfinite(v) || std::fabs(v) > 1e3f) v = 0.25f;
    rows.push_back(r);
    for (int64_t i = 0; i < n; i += 3) r[i] = -kInf;
    rows.push_back(r);
    std::vector<float> z(n);
    for (int64_t i = 0; i < n; ++i) z[i] = (i * 7) % 3 == 1 ? -0.0f : 0.0f;
    rows.push_back(z);
    for (int64_t i = 0; i < n; ++i) z[i] = -std::fabs(rows[0][i]) - 1.0f;
    z[n / 2] = (n % 2) ? -0.0f : 0.0f;
    rows.push_back(z);
    r = rows[0];
    r[n - 1] = kNaN;
    rows.push_back(r);
    rows.push_back(vec_values(n, seed++, 30.0f));
    // exp(x - m) spread over 2^-120 .. 1: double sums that round, so the order shows.
    std::mt19937 rng(seed++);
    std::uniform_real_distribution<float> ud(-85.0f, 0.0f);
    for (int64_t i = 0; i < n; ++i) z[i] = ud(rng);
    rows.push_back(z);
    // One 1 and the rest ~0.6 ulp(1) (exp(-36.5)): each addition to the lane holding the 1
    // rounds, so a different order of additions gives a different sum.
    for (int64_t i = 0; i < n; ++i)
      z[i] = i == 0 ? 0.0f : -36.5f - 0.01f * static_cast<float>(i % 7);
    rows.push_back(z);
    for (size_t k = 0; k < rows.size(); ++k) {
      SCOPED_TRACE("row " + std::to_string(k));
      const std::vector<float>& x = rows[k];
      bool nan512 = false, nan2 = false;
      const float m512 = fast::detail::vec_max_avx512(x.data(), n, &nan512);
      const float m2 = fast::detail::vec_max_avx2(x.data(), n, &nan2);
      ASSERT_EQ(nan512, nan2);
      float want = -kInf;
      bool any_nan = false;
      for (float v : x) {
        any_nan = any_nan || std::isnan(v);
        want = v > want ? v : want;
      }
      ASSERT_EQ(nan512, any_nan);
      if (!any_nan) {
        ASSERT_TRUE(same_bits_or_both_nan(m512, m2)) << m512 << " vs " << m2;
        ASSERT_EQ(m512, want);
      }
      if (!any_nan && std::isfinite(m2)) {
        std::vector<float> y512(n), y2(n);
        const double s512 = fast::detail::vec_exp_sub_sum_avx512(x.data(), m2, y512.data(), n);
        const double s2 = fast::detail::vec_exp_sub_sum_avx2(x.data(), m2, y2.data(), n);
        expect_same_bits(y512, y2, x);
        ASSERT_EQ(std::memcmp(&s512, &s2, sizeof(double)), 0) << s512 << " vs " << s2;
        double s = 0;
        for (float v : y2) s += v;
        ASSERT_NEAR(s512, s, 1e-12 * s);
        const float inv = static_cast<float>(1.0 / s512);
        fast::detail::vec_scale_avx512(y512.data(), inv, n);
        fast::detail::vec_scale_avx2(y2.data(), inv, n);
        expect_same_bits(y512, y2, x);
      }
      for (bool log : {false, true}) {
        std::vector<float> y512(n), y2(n);
        fast::set_vec_isa_for_testing(fast::VecIsa::kAvx512);
        fast::vec_softmax_row(x.data(), y512.data(), n, log);
        fast::set_vec_isa_for_testing(fast::VecIsa::kAvx2);
        fast::vec_softmax_row(x.data(), y2.data(), n, log);
        expect_same_bits(y512, y2, x);
      }
    }
  }
}

TEST_F(FastVecAvx512, SubScalarAndScaleBitEqualToAvx2AndReference) {
  uint32_t seed = 900;
  for (int64_t n : kVecSizes) {
    SCOPED_TRACE("n " + std::to_string(n));
    const std::vector<float> x = vec_values(n, seed++, 1e2f);
    for (float s : {0.0f, -0.0f, 3.25f, -7e30f, 1e-40f, kInf}) {
      std::vector<float> y512(n), y2(n), ref(n);
      fast::detail::vec_sub_scalar_avx512(x.data(), s, y512.data(), n);
      fast::detail::vec_sub_scalar_avx2(x.data(), s, y2.data(), n);
      for (int64_t i = 0; i < n; ++i) ref[i] = x[i] - s;
      expect_same_bits(y512, y2, x);
      expect_same_bits(y512, ref, x);
      y512 = x;
      y2 = x;
      fast::detail::vec_scale_avx512(y512.data(), s, n);
      fast::detail::vec_scale_avx2(y2.data(), s, n);
      for (int64_t i = 0; i < n; ++i) ref[i] = x[i] * s;
      expect_same_bits(y512, y2, x);
      expect_same_bits(y512, ref, x);
    }
  }
}

// KILN_VEC_ISA=avx2 / generic narrow the choice; vec_isa() follows set_vec_isa_for_testing.
TEST_F(FastVecAvx512, IsaSelection) {
  fast::set_vec_isa_for_testing(fast::VecIsa::kAvx512);
  EXPECT_EQ(fast::vec_isa(), fast::VecIsa::kAvx512);
  fast::set_vec_isa_for_testing(fast::VecIsa::kAvx2);
  EXPECT_EQ(fast::vec_isa(), fast::VecIsa::kAvx2);
  fast::set_vec_isa_for_testing(fast::VecIsa::kGeneric);
  EXPECT_EQ(fast::vec_isa(), fast::VecIsa::kGeneric);
  const char* env = std::getenv("KILN_VEC_ISA");
  const std::string e = env ? env : "";
  const fast::VecIsa want = e == "generic" ? fast::VecIsa::kGeneric
                            : e == "avx2"  ? fast::VecIsa::kAvx2
                                           : fast::VecIsa::kAvx512;
  EXPECT_EQ(fast::vec_best_isa(), want);
}

}  // namespace
}  // namespace kiln::cpu
