// Unit tests for the CPU ConvInteger and QLinearConv kernels (runtime/cpu/ops/nn_conv.cpp)
// against a naive reference written here: uint8 / int8 inputs and weights, per-tensor and
// per-channel zero points and scales, groups, pads, strides and dilations, the int32 bias,
// round-half-to-even and saturation of QLinearConv, and errors that name the node.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

struct ConvCase {
  int64_t n = 1, c = 2, h = 5, w = 5, m = 2, kh = 3, kw = 3, group = 1;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  int64_t oh() const { return (h + pt + pb - (dh * (kh - 1) + 1)) / sh + 1; }
  int64_t ow() const { return (w + pl + pr - (dw * (kw - 1) + 1)) / sw + 1; }
};

// Integer sums of (x - xz) * (w - wz[m]) per output element, N x M x OH x OW.
std::vector<int64_t> ref_conv(const ConvCase& k, const std::vector<int>& x,
                              const std::vector<int>& w, int xz, const std::vector<int>& wz) {
  const int64_t cg = k.c / k.group, mg = k.m / k.group;
  std::vector<int64_t> y;
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t m = 0; m < k.m; ++m)
      for (int64_t oy = 0; oy < k.oh(); ++oy)
        for (int64_t ox = 0; ox < k.ow(); ++ox) {
          int64_t acc = 0;
          const int64_t g = m / mg;
          const int wzm = wz.size() == 1 ? wz[0] : wz[m];
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ky = 0; ky < k.kh; ++ky)
              for (int64_t kx = 0; kx < k.kw; ++kx) {
                const int64_t iy = oy * k.sh - k.pt + ky * k.dh;
                const int64_t ix = ox * k.sw - k.pl + kx * k.dw;
                // Padding holds the zero point: contributes (xz - xz) = 0.
                if (iy < 0 || iy >= k.h || ix < 0 || ix >= k.w) continue;
                const int64_t c = g * cg + ci;
                const int xv = x[((n * k.c + c) * k.h + iy) * k.w + ix];
                const int wv = w[((m * cg + ci) * k.kh + ky) * k.kw + kx];
                acc += static_cast<int64_t>(xv - xz) * (wv - wzm);
              }
          y.push_back(acc);
        }
  return y;
}

AttrMap conv_attrs(const ConvCase& k) {
  return {{"group", int_attr(k.group)},
          {"strides", ints_attr({k.sh, k.sw})},
          {"dilations", ints_attr({k.dh, k.dw})},
          {"pads", ints_attr({k.pt, k.pl, k.pb, k.pr})},
          {"kernel_shape", ints_attr({k.kh, k.kw})}};
}

Tensor int_tensor(DType t, const Shape& s, const std::vector<int>& v) {
  Tensor out = Tensor::create(t, s).value();
  for (size_t i = 0; i < v.size(); ++i) out.set_from_double(static_cast<int64_t>(i), v[i]);
  return out;
}

std::vector<int> random_ints(std::mt19937& rng, size_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int> v(n);
  for (int& e : v) e = d(rng);
  return v;
}

const std::vector<ConvCase>& cases() {
  static const std::vector<ConvCase> kCases = [] {
    std::vector<ConvCase> v;
    v.push_back(ConvCase{});  // plain 3x3
    ConvCase k;
    k.pt = k.pl = 1, k.pb = 2, k.pr = 0, k.sh = 2, k.sw = 1;
    v.push_back(k);  // asymmetric pads, stride
    k = ConvCase{};
    k.c = 4, k.m = 6, k.group = 2, k.dh = 2, k.dw = 1, k.pt = k.pb = 2;
    v.push_back(k);  // groups, dilation
    k = ConvCase{};
    k.n = 2, k.c = 3, k.m = 3, k.group = 3, k.kh = k.kw = 2, k.sh = k.sw = 2, k.pr = 1;
    v.push_back(k);  // depthwise, batch 2
    return v;
  }();
  return kCases;
}

TEST(CpuQuantConv, ConvIntegerMatchesReferenceAllTypes) {
  std::mt19937 rng(7);
  for (const ConvCase& k : cases()) {
    for (DType xt : {DType::kUInt8, DType::kInt8}) {
      for (DType wt : {DType::kUInt8, DType::kInt8}) {
        for (bool per_channel : {false, true}) {
          const int xlo = xt == DType::kInt8 ? -128 : 0, xhi = xlo + 255;
          const int wlo = wt == DType::kInt8 ? -128 : 0, whi = wlo + 255;
          const auto x = random_ints(rng, k.n * k.c * k.h * k.w, xlo, xhi);
          const auto w = random_ints(rng, k.m * (k.c / k.group) * k.kh * k.kw, wlo, whi);
          const int xz = random_ints(rng, 1, xlo, xhi)[0];
          const auto wz = random_ints(rng, per_channel ? k.m : 1, wlo, whi);
          const Shape wz_shape = per_channel ? Shape{k.m} : Shape{};
          auto r = run_op("ConvInteger", 10,
                          {int_tensor(xt, {k.n, k.c, k.h, k.w}, x),
                           int_tensor(wt, {k.m, k.c / k.group, k.kh, k.kw}, w),
                           int_tensor(xt, {}, {xz}), int_tensor(wt, wz_shape, wz)},
                          conv_attrs(k));
          ASSERT_TRUE(r.has_value()) << r.status().to_string();
          const std::vector<int64_t> want = ref_conv(k, x, w, xz, wz);
          const Tensor& y = (*r)[0];
          ASSERT_EQ(y.dtype(), DType::kInt32);
          ASSERT_EQ(y.shape(), (Shape{k.n, k.m, k.oh(), k.ow()}));
          for (size_t i = 0; i < want.size(); ++i)
            ASSERT_EQ(y.data<int32_t>()[i], want[i]) << "element " << i;
        }
      }
    }
  }
}

TEST(CpuQuantConv, QLinearConvMatchesReferencePerChannel) {
  std::mt19937 rng(11);
  for (const ConvCase& k : cases()) {
    for (DType xt : {DType::kUInt8, DType::kInt8}) {
      for (DType yt : {DType::kUInt8, DType::kInt8}) {
        const DType wt = DType::kInt8;
        const int xlo = xt == DType::kInt8 ? -128 : 0;
        const auto x = random_ints(rng, k.n * k.c * k.h * k.w, xlo, xlo + 255);
        const auto w = random_ints(rng, k.m * (k.c / k.group) * k.kh * k.kw, -127, 127);
        const int xz = random_ints(rng, 1, xlo, xlo + 255)[0];
        const std::vector<int> wz(k.m, 0);
        std::vector<float> ws;
        for (int64_t m = 0; m < k.m; ++m) ws.push_back(0.001f * static_cast<float>(m + 1));
        const auto bias = random_ints(rng, k.m, -5000, 5000);
        const float xs = 0.02f, ys = 0.05f;
        const int yz = yt == DType::kInt8 ? 3 : 130;
        std::vector<int32_t> b32(bias.begin(), bias.end());
        auto r = run_op(
            "QLinearConv", 10,
            {int_tensor(xt, {k.n, k.c, k.h, k.w}, x), f32({}, {xs}), int_tensor(xt, {}, {xz}),
             int_tensor(wt, {k.m, k.c / k.group, k.kh, k.kw}, w), f32v(ws),
             int_tensor(wt, {k.m}, wz), f32({}, {ys}), int_tensor(yt, {}, {yz}), i32v(b32)},
            conv_attrs(k));
        ASSERT_TRUE(r.has_value()) << r.status().to_string();
        const std::vector<int64_t> acc = ref_conv(k, x, w, xz, wz);
        const Tensor& y = (*r)[0];
        ASSERT_EQ(y.dtype(), yt);
        const int64_t plane = k.oh() * k.ow();
        const double lo = yt == DType::kInt8 ? -128 : 0, hi = lo + 255;
        for (size_t i = 0; i < acc.size(); ++i) {
          const int64_t m = (static_cast<int64_t>(i) / plane) % k.m;
          const double mult = static_cast<float>(xs * ws[m] / ys);
          const double v =
              std::clamp(std::nearbyint(static_cast<double>(acc[i] + bias[m]) * mult) + yz, lo, hi);
          ASSERT_EQ(y.get_as_double(static_cast<int64_t>(i)), v) << "element " << i;
        }
      }
    }
  }
}

TEST(CpuQuantConv, QLinearConvRoundsHalfToEvenAndSaturates) {
  // 1x1 conv with power-of-two scales so that acc * multiplier lands exactly on halves.
  const Tensor x = s8({1, 1, 1, 6}, {1, 3, 5, -3, 127, -128});
  // w 4, multiplier 1 * 0.5 / 4 = 0.125: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -1.5 -> -2, 63.5 -> 64,
  // -64; + 200 with 264 saturating to 255.
  auto r = run_op("QLinearConv", 10,
                  {x, f32({}, {1.0f}), s8({}, {0}), s8({1, 1, 1, 1}, {4}), f32({}, {0.5f}),
                   s8({}, {0}), f32({}, {4.0f}), u8({}, {200})});
  expect_result(r, DType::kUInt8, {1, 1, 1, 6}, {200, 202, 202, 198, 255, 136});
  // w 1, multiplier 0.5, y zero point -100: -164 saturates to -128.
  r = run_op("QLinearConv", 10,
             {x, f32({}, {1.0f}), s8({}, {0}), s8({1, 1, 1, 1}, {1}), f32({}, {0.25f}), s8({}, {0}),
              f32({}, {0.5f}), s8({}, {-100})});
  expect_result(r, DType::kInt8, {1, 1, 1, 6}, {-100, -98, -98, -102, -36, -128});
}

TEST(CpuQuantConv, Errors) {
  const Tensor x = u8({1, 2, 3, 3}, std::vector<uint8_t>(18, 1));
  const Tensor w = s8({2, 2, 1, 1}, {1, 1, 1, 1});
  // Zero point of the wrong dtype, of the wrong length, float input, bad group.
  expect_node_error(run_op("ConvInteger", 10, {x, w, s8({}, {0})}), "x_zero_point");
  expect_node_error(run_op("ConvInteger", 10, {x, w, Tensor(), s8({3}, {0, 0, 0})}),
                    "w_zero_point");
  expect_node_error(run_op("ConvInteger", 10, {f32({1, 2, 3, 3}, std::vector<float>(18, 1)), w}));
  expect_node_error(run_op("ConvInteger", 10, {x, w}, {{"group", int_attr(3)}}));
  // QLinearConv: missing inputs, per-channel x_scale, a non-finite multiplier.
  expect_node_error(run_op("QLinearConv", 10, {x, f32({}, {1.0f})}));
  expect_node_error(run_op("QLinearConv", 10,
                           {x, f32v({1.0f, 1.0f}), u8({}, {0}), w, f32({}, {1.0f}), s8({}, {0}),
                            f32({}, {1.0f}), u8({}, {0})}),
                    "x_scale");
  expect_node_error(run_op("QLinearConv", 10,
                           {x, f32({}, {1.0f}), u8({}, {0}), w, f32({}, {1.0f}), s8({}, {0}),
                            f32({}, {0.0f}), u8({}, {0})}),
                    "not finite");
}

}  // namespace
}  // namespace kiln::cpu
