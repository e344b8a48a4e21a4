// OpCases for MatMul and Gemm: odd sizes that are not multiples of any tile, vectors, batch
// broadcasting, transposes, alpha/beta and every bias shape; float16 variants (gemm_half).
#include <cmath>

#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

// Float16 GEMM results: 1 float16 ulp (2^-10 relative; both sides accumulate in float from zero
// with k ascending and round once to nearest even), plus 2^-14 absolute for results near zero,
// where fma vs. separate multiply-add changes the float sum by more than a float16 ulp there.
constexpr double kHalfRtol = 1.0 / 1024.0;
constexpr double kHalfAtol = 1.0 / 16384.0;

InputSpec as_f16(InputSpec i) {
  i.dtype = DType::kFloat16;
  return i;
}

void add_half_cases(std::vector<OpCase>& v) {
  const std::vector<std::pair<Shape, Shape>> mm = {
      {{1, 1}, {1, 1}},          {{13, 7}, {7, 5}}, {{127, 33}, {33, 65}},
      {{13}, {13, 7}},           {{7, 13}, {13}},   {{13}, {13}},
      {{2, 1, 5, 6}, {3, 6, 4}}, {{0, 5}, {5, 3}},  {{37, 50}, {50, 33}},
  };
  for (const auto& [a, b] : mm) {
    OpCase c;
    c.name = "MatMul/f16_" + shape_to_string(a) + "x" + shape_to_string(b);
    c.op = "MatMul";
    c.opset = 13;
    c.inputs = {as_f16(in_f32(a)), as_f16(in_f32(b))};
    c.atol = kHalfAtol;
    c.rtol = kHalfRtol;
    v.push_back(c);
  }
  {
    // 65504 * 1 + 65504 * 1 overflows to inf, NaN and inf propagate, subnormal products.
    OpCase c;
    c.name = "MatMul/f16_specials";
    c.op = "MatMul";
    c.opset = 13;
    InputSpec a = as_f16(in_f32({5, 2})), b = as_f16(in_f32({2, 3}));
    a.values = {65504, 65504, 5.9604644775390625e-08, 0.5, NAN, 1, INFINITY, 1, -65504, 1};
    b.values = {1, 0.25, 6.103515625e-05, 1, -1, 0.5};
    c.inputs = {a, b};
    c.atol = kHalfAtol;
    c.rtol = kHalfRtol;
    v.push_back(c);
  }
  struct G {
    bool ta, tb;
    Shape c;
    float alpha, beta;
  };
  const std::vector<G> gemm = {
      {false, false, {}, 1, 1},         {false, true, {17}, 1, 1},
      {true, false, {13, 17}, 0.5f, 2}, {true, true, {1, 17}, 1, 0.5f},
      {false, true, {13, 1}, 2, 1},     {false, false, {1}, 1, 1},
  };
  int idx = 0;
  for (const auto& g : gemm) {
    OpCase c;
    c.name = "Gemm/f16_case" + std::to_string(idx++);
    c.op = "Gemm";
    c.opset = 13;
    const int64_t M = 13, K = 29, N = 17;
    c.inputs = {as_f16(in_f32(g.ta ? Shape{K, M} : Shape{M, K})),
                as_f16(const_f32(g.tb ? Shape{N, K} : Shape{K, N}))};
    if (!g.c.empty()) c.inputs.push_back(as_f16(const_f32(g.c)));
    c.attrs = {{"transA", attr_i(g.ta)},
               {"transB", attr_i(g.tb)},
               {"alpha", attr_f(g.alpha)},
               {"beta", attr_f(g.beta)}};
    c.atol = kHalfAtol;
    c.rtol = kHalfRtol;
    v.push_back(c);
  }
}

}  // namespace

std::vector<OpCase> matmul_cases() {
  std::vector<OpCase> v;
  const std::vector<std::pair<Shape, Shape>> mm = {
      {{1, 1}, {1, 1}},
      {{13, 7}, {7, 5}},
      {{127, 33}, {33, 65}},
      {{5, 128}, {128, 64}},
      {{1, 13}, {13, 127}},
      {{13}, {13, 7}},
      {{7, 13}, {13}},
      {{13}, {13}},
      {{3, 13, 7}, {7, 9}},
      {{2, 1, 5, 6}, {3, 6, 4}},
      {{4, 13, 31}, {4, 31, 17}},
      {{0, 5}, {5, 3}},
      // The vector kernels (gemm_nn: B [K, N] with N >= its column block; gemm_nt for B [N, K]):
      // exact tiles, a shifted last column block, row edges, K not a multiple of the vector.
      {{16, 16}, {16, 16}},
      {{8, 32}, {32, 32}},
      {{200, 64}, {64, 300}},
      {{1, 64}, {64, 100}},
      {{37, 50}, {50, 33}},
      {{5, 0}, {0, 20}},
      {{3, 1, 37, 20}, {2, 20, 33}},
      {{2, 3, 9, 40}, {1, 40, 17}},
      {{19, 300}, {300}},
      {{1, 300}, {2, 300, 18}},
      // Large enough for B to be transposed into scratch and run through gemm_nt (PoCL table:
      // M >= 256 and K * N >= 65536), batched B, broadcast B, and the shared scratch reused.
      {{260, 256}, {256, 260}},
      {{2, 256, 300}, {2, 300, 221}},
      {{2, 257, 300}, {300, 221}},
  };
  for (const auto& [a, b] : mm) {
    OpCase c;
    c.name = "MatMul/" + shape_to_string(a) + "x" + shape_to_string(b);
    c.op = "MatMul";
    c.opset = 13;
    c.inputs = {in_f32(a), in_f32(b)};
    c.atol = 1e-4;
    c.rtol = 1e-4;
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "MatMul/const_weight_127x96";
    c.op = "MatMul";
    c.opset = 13;
    c.inputs = {in_f32({2, 17, 127}), const_f32({127, 96})};
    c.atol = 1e-4;
    c.rtol = 1e-4;
    v.push_back(c);
  }
  struct G {
    bool ta, tb;
    Shape c;
    float alpha, beta;
  };
  const std::vector<G> gemm = {
      {false, false, {}, 1, 1},         {false, true, {17}, 1, 1},
      {true, false, {13, 17}, 0.5f, 2}, {true, true, {1, 17}, 1, 0.5f},
      {false, true, {13, 1}, 2, 1},     {false, false, {1}, 1, 1},
  };
  int idx = 0;
  for (const auto& g : gemm) {
    OpCase c;
    c.name = "Gemm/case" + std::to_string(idx++);
    c.op = "Gemm";
    c.opset = 13;
    const int64_t M = 13, K = 29, N = 17;
    c.inputs = {in_f32(g.ta ? Shape{K, M} : Shape{M, K}),
                const_f32(g.tb ? Shape{N, K} : Shape{K, N})};
    if (!g.c.empty()) c.inputs.push_back(const_f32(g.c));
    c.attrs = {{"transA", attr_i(g.ta)},
               {"transB", attr_i(g.tb)},
               {"alpha", attr_f(g.alpha)},
               {"beta", attr_f(g.beta)}};
    c.atol = 1e-4;
    c.rtol = 1e-4;
    v.push_back(c);
  }
  // Larger Gemms through the vector kernels (no transposes: gemm_nn; transB: gemm_nt; transA:
  // the strided kernel), every bias shape, K below / at / above the vector width with a tail.
  struct GB {
    int64_t M, K, N;
    bool ta, tb;
    Shape c;
    float alpha, beta;
  };
  const std::vector<GB> big = {
      {37, 50, 45, false, false, {45}, 0.5f, 2},
      {37, 50, 45, false, false, {37, 1}, 1, 1},
      {37, 50, 45, false, false, {37, 45}, 1, -1},
      {37, 50, 45, false, false, {1}, 2, 0.5f},
      {37, 50, 45, false, true, {45}, 0.5f, 2},
      {37, 50, 45, false, true, {37, 1}, 1, 1},
      {37, 50, 45, false, true, {37, 45}, 1, -1},
      {37, 50, 45, false, true, {}, 1, 1},
      {9, 16, 20, false, true, {1, 20}, 1, 1},
      {9, 5, 20, false, true, {9, 20}, 1, 1},
      {64, 128, 48, false, true, {48}, 1, 1},
      {64, 128, 48, false, false, {48}, 1, 1},
      {1, 77, 130, false, false, {130}, 1, 1},
      {1, 77, 130, false, true, {130}, 1, 1},
      {37, 50, 45, true, false, {45}, 1, 1},
      {37, 50, 45, true, true, {37, 45}, 1, 1},
      {256, 300, 260, false, false, {256, 260}, 0.5f, 2},  // B transposed to scratch (PoCL)
  };
  for (const auto& g : big) {
    OpCase c;
    c.name = "Gemm/" + std::to_string(g.M) + "x" + std::to_string(g.K) + "x" + std::to_string(g.N) +
             (g.ta ? "_tA" : "") + (g.tb ? "_tB" : "") + "_c" + shape_to_string(g.c) + "_" +
             std::to_string(idx++);
    c.op = "Gemm";
    c.opset = 13;
    const int64_t M = g.M, K = g.K, N = g.N;
    c.inputs = {in_f32(g.ta ? Shape{K, M} : Shape{M, K}),
                const_f32(g.tb ? Shape{N, K} : Shape{K, N})};
    if (!g.c.empty()) c.inputs.push_back(const_f32(g.c));
    c.attrs = {{"transA", attr_i(g.ta)},
               {"transB", attr_i(g.tb)},
               {"alpha", attr_f(g.alpha)},
               {"beta", attr_f(g.beta)}};
    c.atol = 1e-4;
    c.rtol = 1e-4;
    v.push_back(c);
  }
  add_half_cases(v);
  return v;
}

}  // namespace kiln::testing
