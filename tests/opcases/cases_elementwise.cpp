// OpCases for elementwise ops: every unary op on odd sizes, binary ops with broadcasting,
// comparisons, Where, Identity/Dropout; and the float16 variants (half storage, float math).
#include <cmath>

#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

// Float16 results are held to 1 float16 ulp: the device and the CPU both compute in float and
// round once to nearest even, so they differ only where float math functions differ by a few
// float ulps across a float16 rounding boundary. 2^-10 relative covers 1 ulp of any normal
// value, 2^-24 absolute 1 ulp of a subnormal.
constexpr double kHalfRtol = 1.0 / 1024.0;
constexpr double kHalfAtol = 1.0 / 16777216.0;

InputSpec in_f16(Shape s, double lo = -1, double hi = 1) {
  InputSpec i = in_f32(std::move(s), lo, hi);
  i.dtype = DType::kFloat16;
  return i;
}

// Float16 edge values: the largest finite values (sums overflow to inf), the smallest normal
// and subnormal magnitudes (products round to nearest even in the subnormal range), signed
// zeros, infinities and NaN.
std::vector<double> half_specials() {
  return {65504.0,
          -65504.0,
          6.103515625e-05,
          5.9604644775390625e-08,
          -5.9604644775390625e-08,
          0.0,
          -0.0,
          INFINITY,
          -INFINITY,
          NAN,
          1.0,
          -2.5,
          1000.0,
          0.333251953125,
          3.0517578125e-05};
}

void add_half_cases(std::vector<OpCase>& v) {
  const std::vector<Shape> sizes = {{1}, {13}, {127}};
  struct U {
    const char* op;
    double lo, hi;
  };
  const std::vector<U> unary = {
      {"Relu", -2, 2},      {"LeakyRelu", -2, 2}, {"Elu", -2, 2},         {"Sigmoid", -8, 8},
      {"Tanh", -4, 4},      {"Exp", -4, 4},       {"Log", 0.01, 10},      {"Sqrt", 0, 10},
      {"Erf", -3, 3},       {"Neg", -2, 2},       {"Abs", -2, 2},         {"Reciprocal", 0.1, 4},
      {"Floor", -5, 5},     {"Ceil", -5, 5},      {"HardSigmoid", -4, 4}, {"Softplus", -4, 4},
      {"Sin", -4, 4},       {"Cos", -4, 4},       {"Round", -5, 5},       {"Sign", -2, 2},
      {"HardSwish", -5, 5}, {"Selu", -2, 2},      {"Softsign", -3, 3},
  };
  for (const auto& u : unary)
    for (const auto& s : sizes) {
      OpCase c;
      c.name = std::string(u.op) + "/f16_" + shape_to_string(s);
      c.op = u.op;
      c.opset = 14;
      c.inputs = {in_f16(s, u.lo, u.hi)};
      c.atol = kHalfAtol;
      c.rtol = kHalfRtol;
      v.push_back(c);
    }
  // Edge values through the unary kernel (Exp of 1000 and 65504 overflows to inf).
  for (const auto& u : unary) {
    const char* op = u.op;
    OpCase c;
    c.name = std::string(op) + "/f16_specials";
    c.op = op;
    c.opset = 14;
    InputSpec x = in_f16({15});
    x.values = half_specials();
    c.inputs = {x};
    c.atol = kHalfAtol;
    c.rtol = kHalfRtol;
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "Clip/f16_opset13_inputs";
    c.op = "Clip";
    c.opset = 13;
    InputSpec lo = const_f32({}, -0.3, -0.3), hi = const_f32({}, 0.6, 0.6);
    lo.dtype = hi.dtype = DType::kFloat16;
    lo.values = {-0.3};
    hi.values = {0.6};
    c.inputs = {in_f16({3, 13}), lo, hi};
    c.atol = kHalfAtol;
    c.rtol = kHalfRtol;
    v.push_back(c);
  }
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{1}, {1}},
      {{13}, {13}},
      {{127}, {1}},
      {{1}, {127}},
      {{3, 13}, {13}},
      {{13, 1}, {1, 7}},
      {{2, 1, 3, 1, 5}, {1, 4, 1, 2, 1}},
  };
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Min", "Max"}) {
    bool pos = std::string(op) == "Pow" || std::string(op) == "Div";
    for (const auto& [a, b] : pairs) {
      OpCase c;
      c.name = std::string(op) + "/f16_" + shape_to_string(a) + "x" + shape_to_string(b);
      c.op = op;
      c.opset = 14;
      c.inputs = {in_f16(a, pos ? 0.1 : -2, 2), in_f16(b, pos ? 0.1 : -2, 2)};
      c.atol = kHalfAtol;
      c.rtol = kHalfRtol;
      v.push_back(c);
    }
    // Every pair of edge values: 15 x 15 through broadcasting {15,1} x {1,15}. Includes
    // 65504 + 65504 = inf, 65504 * 1000 = inf, subnormal * 0.333 (rounds in the subnormal
    // range), x / 0, inf - inf = NaN. Pow of edge values is left to the random cases.
    if (std::string(op) == "Pow") continue;
    OpCase c;
    c.name = std::string(op) + "/f16_specials";
    c.op = op;
    c.opset = 14;
    InputSpec x = in_f16({15, 1}), y = in_f16({1, 15});
    x.values = y.values = half_specials();
    c.inputs = {x, y};
    c.atol = kHalfAtol;
    c.rtol = kHalfRtol;
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "PRelu/f16_channel_slope";
    c.op = "PRelu";
    c.opset = 14;
    InputSpec slope = const_f32({3, 1}, 0, 0.5);
    slope.dtype = DType::kFloat16;
    c.inputs = {in_f16({2, 3, 7}), slope};
    c.atol = kHalfAtol;
    c.rtol = kHalfRtol;
    v.push_back(c);
  }
  // The OpenCL fast paths (binary_vec: dense, trailing-row and scalar operands, four lanes per
  // work-item; collapsed dims for the rest). Sizes that leave 1..3 tail elements, rows shorter
  // than and not a multiple of the vector (so row reads wrap inside a vector and start at
  // unaligned offsets), and broadcasts that collapse to one to three dims. Add/Sub/Mul/Div are
  // single IEEE operations on both sides: held bit-exact (tolerance 0).
  const std::vector<std::pair<Shape, Shape>> fast = {
      {{1000003}, {1000003}},  {{3, 5, 7}, {3, 5, 7}}, {{1000003}, {1}},
      {{13, 127}, {}},         {{13, 127}, {127}},     {{127}, {13, 127}},
      {{5, 1, 13}, {1, 13}},   {{7, 3}, {3}},          {{9, 2}, {1, 2}},
      {{2, 3}, {3, 2, 3}},     {{4, 6, 5}, {4, 1, 5}}, {{2, 3, 4, 5}, {2, 1, 1, 5}},
      {{13, 1, 5}, {1, 7, 1}},
  };
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Min", "Max"})
    for (const auto& [a, b] : fast) {
      const std::string o = op;
      const bool exact = o == "Add" || o == "Sub" || o == "Mul" || o == "Div";
      if (!exact && numel_of(a) + numel_of(b) > 100000) continue;  // the lane-by-lane path
      OpCase c;
      c.name = o + "/fast_" + shape_to_string(a) + "x" + shape_to_string(b);
      c.op = op;
      c.opset = 14;
      const bool pos = o == "Pow" || o == "Div";
      c.inputs = {in_f32(a, pos ? 0.1 : -2, 2), in_f32(b, pos ? 0.1 : -2, 2)};
      c.atol = exact ? 0.0 : 1e-5;
      c.rtol = exact ? 0.0 : 1e-5;
      v.push_back(c);
    }
  for (const auto& [a, b] : std::vector<std::pair<Shape, Shape>>{
           {{13, 127}, {127}}, {{1000003}, {1000003}}, {{7, 3}, {}}, {{127}, {13, 127}}}) {
    OpCase c;
    c.name = "Add/fast_f16_" + shape_to_string(a) + "x" + shape_to_string(b);
    c.op = "Add";
    c.opset = 14;
    c.inputs = {in_f16(a, -2, 2), in_f16(b, -2, 2)};
    c.atol = kHalfAtol;
    c.rtol = kHalfRtol;
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "PRelu/fast_row_slope_2x13x7";
    c.op = "PRelu";
    c.opset = 16;
    c.inputs = {in_f32({2, 13, 7}, -2, 2), const_f32({7}, 0, 0.5)};
    v.push_back(c);
  }
  for (const char* op : {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"}) {
    OpCase c;
    c.name = std::string(op) + "/f16_13x13";
    c.op = op;
    c.opset = 16;
    InputSpec x = in_f16({13}), y = in_f16({13});
    x.values = {-1, 0, 1, 2, 0.5};
    y.values = {0, 1, 0.5};
    c.inputs = {x, y};
    v.push_back(c);
    c.name = std::string(op) + "/f16_specials";
    x = in_f16({15, 1});
    y = in_f16({1, 15});
    x.values = y.values = half_specials();
    c.inputs = {x, y};
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "Where/f16_broadcast";
    c.op = "Where";
    c.opset = 16;
    c.inputs = {in_bool({3, 1, 13}), in_f16({1, 5, 13}), in_f16({13})};
    v.push_back(c);
    c.name = "Where/f16_specials";
    InputSpec x = in_f16({15}), y = in_f16({15});
    x.values = half_specials();
    y.values = {-0.0, NAN, 65504.0};
    c.inputs = {in_bool({15}), x, y};
    v.push_back(c);
  }
}

}  // namespace

std::vector<OpCase> elementwise_cases() {
  std::vector<OpCase> v;
  const std::vector<Shape> sizes = {{1}, {13}, {127}, {3, 5, 7}};
  struct U {
    const char* op;
    double lo, hi;
    std::map<std::string, ir::Attribute> attrs;
  };
  const std::vector<U> unary = {
      {"Relu", -2, 2, {}},        {"LeakyRelu", -2, 2, {{"alpha", attr_f(0.1f)}}},
      {"Elu", -2, 2, {}},         {"Sigmoid", -8, 8, {}},
      {"Tanh", -4, 4, {}},        {"Exp", -4, 4, {}},
      {"Log", 0.01, 10, {}},      {"Sqrt", 0, 10, {}},
      {"Erf", -3, 3, {}},         {"Neg", -2, 2, {}},
      {"Abs", -2, 2, {}},         {"Reciprocal", 0.1, 4, {}},
      {"Floor", -5, 5, {}},       {"Ceil", -5, 5, {}},
      {"HardSigmoid", -4, 4, {}}, {"Softplus", -4, 4, {}},
      {"Sin", -4, 4, {}},         {"Cos", -4, 4, {}},
      {"Round", -5, 5, {}},       {"Sign", -2, 2, {}},
      {"HardSwish", -5, 5, {}},   {"Selu", -2, 2, {}},
      {"Softsign", -3, 3, {}},
  };
  for (const auto& u : unary)
    for (const auto& s : sizes) {
      OpCase c;
      c.name = std::string(u.op) + "/" + shape_to_string(s);
      c.op = u.op;
      c.opset = 14;
      c.attrs = u.attrs;
      c.inputs = {in_f32(s, u.lo, u.hi)};
      c.atol = 1e-5;
      c.rtol = 1e-5;
      v.push_back(c);
    }
  {
    OpCase c;
    c.name = "Gelu/erf_127";
    c.op = "Gelu";
    c.opset = 20;
    c.inputs = {in_f32({127}, -4, 4)};
    v.push_back(c);
    c.name = "Gelu/tanh_13x5";
    c.attrs = {{"approximate", attr_s("tanh")}};
    c.inputs = {in_f32({13, 5}, -4, 4)};
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "Clip/opset6_attrs";
    c.op = "Clip";
    c.opset = 6;
    c.attrs = {{"min", attr_f(-0.5f)}, {"max", attr_f(0.25f)}};
    c.inputs = {in_f32({127})};
    v.push_back(c);
    c.name = "Clip/opset13_inputs";
    c.opset = 13;
    c.attrs = {};
    InputSpec lo = const_f32({}, -0.3, -0.3), hi = const_f32({}, 0.6, 0.6);
    lo.values = {-0.3};
    hi.values = {0.6};
    c.inputs = {in_f32({3, 13}), lo, hi};
    v.push_back(c);
    c.name = "Clip/opset13_min_only";
    c.inputs = {in_f32({13}), lo, omitted()};
    v.push_back(c);
  }
  // Binary ops over shapes that exercise every broadcast pattern.
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{1}, {1}},          {{13}, {13}},           {{127}, {1}},
      {{1}, {127}},        {{3, 13}, {13}},        {{13, 1}, {1, 7}},
      {{2, 3, 5}, {3, 1}}, {{4, 1, 6}, {1, 5, 1}}, {{2, 1, 3, 1, 5}, {1, 4, 1, 2, 1}},
  };
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Min", "Max"})
    for (const auto& [a, b] : pairs) {
      OpCase c;
      c.name = std::string(op) + "/" + shape_to_string(a) + "x" + shape_to_string(b);
      c.op = op;
      c.opset = 14;
      bool pos = std::string(op) == "Pow" || std::string(op) == "Div";
      c.inputs = {in_f32(a, pos ? 0.1 : -2, 2), in_f32(b, pos ? 0.1 : -2, 2)};
      c.atol = 1e-5;
      c.rtol = 1e-5;
      v.push_back(c);
    }
  {
    OpCase c;
    c.name = "Add/constant_rhs";
    c.op = "Add";
    c.opset = 14;
    c.inputs = {in_f32({5, 13}), const_f32({13})};
    v.push_back(c);
    c.name = "PRelu/channel_slope";
    c.op = "PRelu";
    c.inputs = {in_f32({2, 3, 7}), const_f32({3, 1}, 0, 0.5)};
    v.push_back(c);
  }
  for (const char* op : {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"})
    for (const auto& [a, b] : std::vector<std::pair<Shape, Shape>>{{{13}, {13}}, {{3, 13}, {1}}}) {
      OpCase c;
      c.name = std::string(op) + "/" + shape_to_string(a) + "x" + shape_to_string(b);
      c.op = op;
      c.opset = 16;
      // Few distinct values so that equality actually happens.
      InputSpec x = in_f32(a), y = in_f32(b);
      x.values = {-1, 0, 1, 2, 0.5};
      y.values = {0, 1, 0.5};
      c.inputs = {x, y};
      v.push_back(c);
    }
  {
    OpCase c;
    c.name = "Where/broadcast";
    c.op = "Where";
    c.opset = 16;
    c.inputs = {in_bool({3, 1, 13}), in_f32({1, 5, 13}), in_f32({13})};
    v.push_back(c);
    c.name = "Where/same";
    c.inputs = {in_bool({127}), in_f32({127}), in_f32({127})};
    v.push_back(c);
  }
  {
    OpCase c;
    c.name = "Identity/13x7";
    c.op = "Identity";
    c.opset = 16;
    c.inputs = {in_f32({13, 7})};
    v.push_back(c);
    c.name = "Dropout/inference";
    c.op = "Dropout";
    c.inputs = {in_f32({127})};
    v.push_back(c);
  }
  add_half_cases(v);
  return v;
}

}  // namespace kiln::testing
