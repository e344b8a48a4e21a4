// The fast float32 Conv / MaxPool / AveragePool paths (runtime/cpu/ops/nn_conv.cpp, nn_pool.cpp)
// against their reference loops (switched with nn_conv_ref.h) on odd sizes: 1x1 GEMM, im2col +
// SGEMM (with and without row tiling), depthwise, groups, strides, pads, dilations, 1-D inputs;
// and bit-identical results for 1 and 2 threads.
//
// Conv tolerance: both paths are float sums of the same K = C/group * kh * kw products in
// different orders (and possibly with FMA), each within gamma_K * S of the exact value where
// S = sum_k |w_k x_k| (gamma_K ~ K u, u = 2^-24). Per element the test allows
// 2 (K + 2) u S + 2 u |y|, S computed by the reference Conv on |x| and |w|: a bound any correct
// summation order meets, yet a missing or doubled term (an error ~ |w_k x_k|) breaks it.
// The pools take their taps in the reference's order, so they must match bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <vector>

#include "runtime/cpu/ops/nn_conv_ref.h"
#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using kiln::testing::AttrMap;
using kiln::testing::int_attr;
using kiln::testing::ints_attr;
using kiln::testing::run_op;

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

Tensor abs_of(const Tensor& t) {
  std::vector<float> v(t.data<float>(), t.data<float>() + t.numel());
  for (float& x : v) x = std::fabs(x);
  return Tensor::from_vector<float>(t.shape(), v);
}

// Runs op with the fast paths on or off.
Tensor run(bool fast, const std::string& op, const std::vector<Tensor>& in, const AttrMap& attrs,
           int threads) {
  nn::set_fast_paths_enabled(fast);
  auto out = run_op(op, 19, in, attrs, 1, threads);
  nn::set_fast_paths_enabled(true);
  EXPECT_TRUE(out.has_value()) << out.status().message();
  if (!out.has_value()) return Tensor();
  return (*out)[0];
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data<float>(), b.data<float>(), a.numel() * sizeof(float)) == 0;
}

struct ConvCase {
  std::vector<int64_t> x_shape;  // N, C, spatial..
  int64_t m, group;
  std::vector<int64_t> kernel, strides, pads, dilations;
  bool bias;
};

std::string describe(const ConvCase& c) {
  std::ostringstream os;
  os << "x" << shape_to_string(c.x_shape) << " M " << c.m << " group " << c.group << " k"
     << shape_to_string(c.kernel) << " s" << shape_to_string(c.strides) << " p"
     << shape_to_string(c.pads) << " d" << shape_to_string(c.dilations) << (c.bias ? " bias" : "");
  return os.str();
}

void check_conv(const ConvCase& c, uint32_t seed) {
  SCOPED_TRACE(describe(c));
  const int64_t cg = c.x_shape[1] / c.group;
  Shape ws{c.m, cg};
  for (int64_t k : c.kernel) ws.push_back(k);
  int64_t xn = 1, wn = 1, kn = cg;
  for (int64_t d : c.x_shape) xn *= d;
  for (int64_t d : ws) wn *= d;
  for (int64_t k : c.kernel) kn *= k;
  const Tensor x = Tensor::from_vector<float>(c.x_shape, random_vec(xn, seed));
  const Tensor w = Tensor::from_vector<float>(ws, random_vec(wn, seed + 1));
  std::vector<Tensor> in{x, w};
  if (c.bias) in.push_back(Tensor::from_vector<float>({c.m}, random_vec(c.m, seed + 2)));
  AttrMap attrs{{"group", int_attr(c.group)},
                {"kernel_shape", ints_attr(c.kernel)},
                {"strides", ints_attr(c.strides)},
                {"pads", ints_attr(c.pads)},
                {"dilations", ints_attr(c.dilations)}};
  const Tensor ref = run(false, "Conv", in, attrs, 2);
  const Tensor s = run(false, "Conv", {abs_of(x), abs_of(w)}, attrs, 2);
  const Tensor y1 = run(true, "Conv", in, attrs, 1);
  const Tensor y2 = run(true, "Conv", in, attrs, 2);
  ASSERT_TRUE(ref.defined() && s.defined() && y1.defined() && y2.defined());
  ASSERT_EQ(y1.shape(), ref.shape());
  EXPECT_TRUE(same_bits(y1, y2)) << "1 and 2 threads differ";
  const double u = std::ldexp(1.0, -24);
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double r = ref.data<float>()[i], y = y1.data<float>()[i];
    const double tol = 2.0 * (kn + 2) * u * s.data<float>()[i] + 2 * u * std::fabs(r) + 1e-30;
    ASSERT_LE(std::fabs(y - r), tol) << "element " << i << ": fast " << y << " ref " << r;
  }
}

TEST(CpuConvFast, PointwiseGemm) {
  check_conv({{2, 13, 7, 13}, 5, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}, true}, 1);
  check_conv({{1, 3, 31, 1}, 13, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}, false}, 2);
  check_conv({{1, 1, 1, 1}, 3, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}, true}, 3);
  // Grouped 1x1, strided 1x1 and padded 1x1 (the last two through im2col).
  check_conv({{2, 12, 7, 7}, 6, 3, {1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}, true}, 4);
  check_conv({{1, 13, 13, 13}, 7, 1, {1, 1}, {2, 2}, {0, 0, 0, 0}, {1, 1}, true}, 5);
  check_conv({{1, 3, 7, 7}, 4, 1, {1, 1}, {1, 1}, {1, 0, 0, 1}, {1, 1}, false}, 6);
}

TEST(CpuConvFast, Im2colOddSizes) {
  uint32_t seed = 100;
  for (int64_t c : {1, 3, 13})
    for (int64_t hw : {1, 7, 13, 31})
      for (int64_t k : {3, 5, 7})
        for (int64_t s : {1, 2}) {
          const int64_t p = (k / 2) * (seed % 2);  // padded every other case
          if (hw + 2 * p < k) {
            ++seed;
            continue;
          }
          check_conv({{1 + static_cast<int64_t>(seed % 2), c, hw, hw + 2},
                      1 + (seed % 9),
                      1,
                      {k, k},
                      {s, s},
                      {p, p, p, p},
                      {1, 1},
                      seed % 3 != 0},
                     seed);
          ++seed;
        }
}

TEST(CpuConvFast, DilationsAsymmetricPadsAndGroups) {
  check_conv({{1, 3, 13, 13}, 4, 1, {3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}, true}, 7);
  check_conv({{1, 5, 31, 13}, 6, 1, {3, 5}, {2, 1}, {0, 1, 2, 3}, {3, 1}, true}, 8);
  check_conv({{2, 12, 13, 7}, 9, 3, {3, 3}, {1, 2}, {1, 1, 1, 1}, {1, 1}, true}, 9);
  check_conv({{1, 6, 7, 7}, 4, 2, {5, 5}, {1, 1}, {0, 0, 0, 0}, {1, 1}, false}, 10);
  // 1-D input.
  check_conv({{2, 13, 31}, 7, 1, {5}, {2}, {2, 1}, {1}, true}, 11);
  check_conv({{1, 4, 31}, 4, 4, {3}, {1}, {1, 1}, {2}, true}, 12);
}

TEST(CpuConvFast, Depthwise) {
  uint32_t seed = 300;
  for (int64_t c : {1, 3, 13})
    for (int64_t hw : {1, 7, 31})
      for (int64_t k : {3, 5})
        for (int64_t s : {1, 2}) {
          if (c == 1) continue;  // group 1: the im2col path
          const int64_t p = k / 2;
          check_conv({{2, c, hw, hw}, c, c, {k, k}, {s, s}, {p, p, p, p}, {1, 1}, true}, seed++);
        }
  // Channel multiplier 2 and a dilated depthwise.
  check_conv({{1, 3, 13, 13}, 6, 3, {3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, true}, 20);
  check_conv({{1, 5, 13, 13}, 5, 5, {3, 3}, {2, 1}, {2, 0, 2, 1}, {2, 2}, false}, 21);
}

TEST(CpuConvFast, Im2colTiledOverRows) {
  // C 64 x 3 x 3 = 576 rows of 131 x 120 columns: ~36 MB, over the 32 MiB column bound.
  check_conv({{1, 64, 131, 120}, 5, 1, {3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, true}, 30);
}

// ---- pools ----

void check_pool(const std::string& op, const Shape& xs, const AttrMap& attrs, uint32_t seed,
                bool with_nan = false) {
  int64_t n = 1;
  for (int64_t d : xs) n *= d;
  std::vector<float> v = random_vec(n, seed);
  if (with_nan)
    for (int64_t i = 0; i < n; i += 7) v[i] = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = Tensor::from_vector<float>(xs, v);
  const Tensor ref = run(false, op, {x}, attrs, 2);
  const Tensor y1 = run(true, op, {x}, attrs, 1);
  const Tensor y2 = run(true, op, {x}, attrs, 2);
  ASSERT_TRUE(ref.defined() && y1.defined() && y2.defined());
  EXPECT_TRUE(same_bits(ref, y1)) << op << " x" << shape_to_string(xs) << " seed " << seed;
  EXPECT_TRUE(same_bits(y1, y2)) << op << " 1 and 2 threads differ";
}

TEST(CpuConvFast, PoolsMatchReferenceBitForBit) {
  uint32_t seed = 500;
  for (const char* op : {"MaxPool", "AveragePool"})
    for (int64_t hw : {1, 7, 13, 31})
      for (int64_t k : {1, 2, 3, 5})
        for (int64_t s : {1, 2}) {
          const int64_t p = std::min<int64_t>(k - 1, 1) * (seed % 2);
          if (k > hw + 2 * p) continue;
          AttrMap a{{"kernel_shape", ints_attr({k, k})},
                    {"strides", ints_attr({s, s})},
                    {"pads", ints_attr({p, p, p, p})},
                    {"ceil_mode", int_attr(seed % 3 == 0 ? 1 : 0)}};
          if (op[0] == 'A') a["count_include_pad"] = int_attr(seed % 4 < 2 ? 1 : 0);
          check_pool(op, {2, 3, hw, hw + 1}, a, seed++);
        }
  // Dilations, asymmetric pads, 1-D, NaN inputs.
  AttrMap dil{{"kernel_shape", ints_attr({3, 2})},
              {"strides", ints_attr({2, 1})},
              {"pads", ints_attr({1, 0, 2, 1})},
              {"dilations", ints_attr({2, 3})}};
  check_pool("MaxPool", {1, 3, 13, 13}, dil, 1);
  check_pool("MaxPool", {1, 3, 13, 13}, dil, 2, true);
  dil["ceil_mode"] = int_attr(1);
  dil["count_include_pad"] = int_attr(1);
  check_pool("AveragePool", {1, 3, 13, 13}, dil, 3);
  check_pool("AveragePool", {1, 3, 13, 13}, dil, 4, true);
  AttrMap one_d{
      {"kernel_shape", ints_attr({3})}, {"strides", ints_attr({2})}, {"pads", ints_attr({1, 1})}};
  check_pool("MaxPool", {2, 5, 31}, one_d, 5);
  check_pool("AveragePool", {2, 5, 31}, one_d, 6);
}

}  // namespace
}  // namespace kiln::cpu
