// Unit tests for the vectorised float32 erf (runtime/cpu/fast/vec_math.h) and the kernels that use
// it (Erf, ONNX Gelu, com.microsoft Gelu / BiasGelu): vec_erf against double-precision std::erf
// over a dense sweep (ulp bound), special values, and the kernels fast against their reference
// loops on odd sizes, with both the AVX2 and the portable loops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "runtime/cpu/fast/vec_math.h"
#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

class FastErf : public ::testing::TestWithParam<fast::VecIsa> {
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
  const int64_t la = ia < 0 ? -static_cast<int64_t>(ia & 0x7fffffff) : ia;
  const int64_t lb = ib < 0 ? -static_cast<int64_t>(ib & 0x7fffffff) : ib;
  return la > lb ? la - lb : lb - la;
}

float erf_ref(float x) {
  return static_cast<float>(std::erf(static_cast<double>(x)));
}

// Bound: within 4 ulp of the correctly rounded erf (double std::erf rounded to float) over
// [-6, 6] in steps of ~1e-5, plus tiny and denormal inputs.
TEST_P(FastErf, WithinFourUlpOfStdErf) {
  std::vector<float> x;
  for (float v = -6.0f; v <= 6.0f; v += 0.0000097f) x.push_back(v);
  for (float v = 1e-38f; v < 1e-2f; v *= 1.37f) {
    x.push_back(v);
    x.push_back(-v);
  }
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> y(n);
  fast::vec_erf(x.data(), y.data(), n);
  int64_t worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t d = ulp_diff(y[i], erf_ref(x[i]));
    worst = std::max(worst, d);
    ASSERT_LE(d, 4) << "x = " << x[i] << " fast " << y[i] << " ref " << erf_ref(x[i]);
  }
  RecordProperty("worst_ulp", static_cast<int>(worst));
}

TEST_P(FastErf, SpecialValues) {
  const std::vector<float> sx = {0.0f, -0.0f, kInf, -kInf, kNaN, 1e-40f, -1e-45f, 100.0f, -3.95f};
  std::vector<float> sy(sx.size());
  fast::vec_erf(sx.data(), sy.data(), static_cast<int64_t>(sx.size()));
  EXPECT_EQ(sy[0], 0.0f);
  EXPECT_FALSE(std::signbit(sy[0]));
  EXPECT_EQ(sy[1], 0.0f);
  EXPECT_TRUE(std::signbit(sy[1]));
  EXPECT_EQ(sy[2], 1.0f);
  EXPECT_EQ(sy[3], -1.0f);
  EXPECT_TRUE(std::isnan(sy[4]));
  // Denormal results: within one denormal step.
  EXPECT_LE(std::fabs(sy[5] - erf_ref(1e-40f)), std::ldexp(1.0f, -149));
  EXPECT_LE(std::fabs(sy[6] - erf_ref(-1e-45f)), std::ldexp(1.0f, -149));
  EXPECT_EQ(sy[7], 1.0f);
  EXPECT_EQ(sy[8], -1.0f);
}

// Random values with NaN, +-inf, +-0, denormals and huge magnitudes mixed in.
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

Expected<std::vector<Tensor>> run_in(const std::string& op, const std::string& domain, int opset,
                                     const std::vector<Tensor>& inputs, const AttrMap& attrs,
                                     int threads) {
  ir::Graph g;
  g.opsets()[""] = opset;
  g.opsets()["com.microsoft"] = 1;
  std::vector<ir::Value*> ins;
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    ir::Value* v = *g.add_value(name, ir::ValueInfo{inputs[i].dtype(), false, {}});
    g.add_input(v);
    feeds[name] = inputs[i];
    ins.push_back(v);
  }
  ir::Value* out = *g.add_value("out0");
  auto node = g.add_node(op, domain, ins, {out}, kNodeName);
  if (!node) return node.status();
  for (const auto& [k, a] : attrs) (*node)->set_attr(k, a);
  g.add_output(out);
  cpu::Executor ex(g, threads);
  return ex.run(feeds);
}

Tensor run_both(const std::string& op, const std::string& domain, int opset,
                const std::vector<Tensor>& in, Tensor* ref, int threads = 2) {
  fast::set_elementwise_fast_for_testing(false);
  *ref = ok1(run_in(op, domain, opset, in, {}, threads));
  fast::set_elementwise_fast_for_testing(true);
  return ok1(run_in(op, domain, opset, in, {}, threads));
}

const std::vector<int64_t> kSizes = {1, 13, 127, 1000003};

// Erf op: within 4 ulp of the reference (std::erf in double, rounded), NaN where it gives NaN.
TEST_P(FastErf, ErfOpCloseToReference) {
  uint32_t seed = 1;
  for (int64_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    Tensor ref;
    const Tensor y = run_both("Erf", "", 13, {f32({n}, test_values(n, seed++, 2.0f))}, &ref);
    const float* py = y.data<float>();
    const float* pr = ref.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(pr[i])) {
        ASSERT_TRUE(std::isnan(py[i])) << i;
        continue;
      }
      ASSERT_LE(ulp_diff(py[i], pr[i]), 4) << i << ": " << py[i] << " vs " << pr[i];
    }
  }
}

// Gelu = 0.5 v (1 + erf(v / sqrt(2))) with v = x (+ bias): the fast and reference loops differ
// only in erf (<= 4 ulp, so <= 2^-22 absolute in 1 + erf), hence the bound
// |fast - ref| <= 2^-22 * 0.5 |v| + 2 ulp(ref) (the final roundings). NaN matches NaN.
void expect_gelu_close(const Tensor& y, const Tensor& ref, const std::vector<float>& v) {
  const float* py = y.data<float>();
  const float* pr = ref.data<float>();
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(pr[i])) {
      ASSERT_TRUE(std::isnan(py[i])) << i << " v = " << v[i];
      continue;
    }
    if (std::isinf(pr[i])) {
      ASSERT_EQ(py[i], pr[i]) << i;
      continue;
    }
    const double tol = std::ldexp(0.5 * std::fabs(static_cast<double>(v[i])), -22) +
                       2.0 * std::nextafter(std::fabs(pr[i]), kInf) - 2.0 * std::fabs(pr[i]) +
                       std::ldexp(1.0, -148);
    ASSERT_LE(std::fabs(static_cast<double>(py[i]) - pr[i]), tol)
        << i << " v = " << v[i] << ": " << py[i] << " vs " << pr[i];
  }
}

TEST_P(FastErf, GeluOpsCloseToReference) {
  uint32_t seed = 50;
  for (int64_t n : kSizes) {
    const std::vector<float> x = test_values(n, seed++, 3.0f);
    const Tensor tx = f32({n}, x);
    for (const char* op : {"Gelu20", "GeluMs"}) {
      SCOPED_TRACE(std::string(op) + " n = " + std::to_string(n));
      Tensor ref;
      const bool onnx = std::string(op) == "Gelu20";
      const Tensor y = run_both("Gelu", onnx ? "" : "com.microsoft", onnx ? 20 : 17, {tx}, &ref);
      expect_gelu_close(y, ref, x);
    }
  }
}

TEST_P(FastErf, BiasGeluCloseToReference) {
  const std::vector<Shape> shapes = {{1}, {13}, {3, 127}, {2, 5, 13}, {1, 1000003}};
  uint32_t seed = 80;
  for (const auto& s : shapes) {
    SCOPED_TRACE(shape_to_string(s));
    const int64_t n = numel_of(s), c = s.back();
    std::vector<float> x = test_values(n, seed++, 3.0f);
    const std::vector<float> b = test_values(c, seed++, 1.0f);
    Tensor ref;
    const Tensor y = run_both("BiasGelu", "com.microsoft", 17, {f32(s, x), f32({c}, b)}, &ref);
    for (int64_t i = 0; i < n; ++i) x[i] += b[i % c];
    expect_gelu_close(y, ref, x);
  }
}

TEST_P(FastErf, SameResultForAnyThreadCount) {
  const Tensor a = f32({64, 257}, test_values(64 * 257, 3, 3.0f));
  const Tensor b = f32({257}, test_values(257, 4, 1.0f));
  const Tensor y1 = ok1(run_in("BiasGelu", "com.microsoft", 17, {a, b}, {}, 1));
  const Tensor y2 = ok1(run_in("BiasGelu", "com.microsoft", 17, {a, b}, {}, 3));
  ASSERT_EQ(std::memcmp(y1.data<float>(), y2.data<float>(), y1.numel() * 4), 0);
}

TEST_P(FastErf, BiasGeluBadBiasNamesNode) {
  const Tensor a = f32({2, 13}, test_values(26, 5, 1.0f));
  const Tensor b = f32({12}, test_values(12, 6, 1.0f));
  expect_node_error(run_in("BiasGelu", "com.microsoft", 17, {a, b}, {}, 2));
}

INSTANTIATE_TEST_SUITE_P(Isa, FastErf,
                         ::testing::Values(fast::VecIsa::kGeneric, fast::VecIsa::kAvx2),
                         [](const auto& info) {
                           return info.param == fast::VecIsa::kAvx2 ? "avx2" : "generic";
                         });

}  // namespace
}  // namespace kiln::cpu
