// OpCases for the reduce family: Reduce* over every axes pattern (attribute and input forms,
// keepdims, noop_with_empty_axes), ArgMax/ArgMin with ties and NaN, Softmax/LogSoftmax in both
// opset regimes, LayerNormalization with broadcast Scale/B, and Cast between float32, float16,
// int32, int64 and bool; float16 variants of the reductions, ArgMax/ArgMin, Softmax/LogSoftmax
// and LayerNormalization (half storage, float arithmetic on both paths).
#include <cmath>

#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

InputSpec explicit_f32(Shape s, std::vector<double> values) {
  InputSpec i = in_f32(std::move(s));
  i.values = std::move(values);
  return i;
}

// The axes as a graph input (not an initializer): still known on the host when the node runs.
InputSpec fed_i64(std::vector<int64_t> values) {
  InputSpec i = const_i64(std::move(values));
  i.constant = false;
  return i;
}

InputSpec as_f16(InputSpec i) {
  i.dtype = DType::kFloat16;
  return i;
}

// Float16 results: both paths compute in float and round once to half (round to nearest even);
// float summation order may move a value across a rounding boundary: one half ulp is 2^-10
// relative, so 2^-9 relative leaves room for that; atol covers results near zero (LayerNorm
// outputs, sums that cancel), where the inputs' own half rounding (2^-11 relative of values up to
// ~5) dominates.
constexpr double kHalfRtol = 1.0 / 512.0;
constexpr double kHalfAtol = 1.0 / 1024.0;

void half_cases_into(std::vector<OpCase>& v) {
  struct R {
    const char* op;
    Shape shape;
    std::vector<int64_t> axes;
    double lo, hi;
  };
  for (const R& r : std::vector<R>{{"ReduceSum", {13, 127}, {-1}, -1, 1},
                                   {"ReduceMean", {3, 5, 7}, {0, 2}, -1, 1},
                                   {"ReduceMax", {2, 3, 4, 5, 6}, {1, 3}, -4, 4},
                                   {"ReduceMin", {300, 7}, {0}, -4, 4},
                                   {"ReduceProd", {13, 5}, {1}, 0.9, 1.1},
                                   {"ReduceL2", {4, 768}, {1}, -1, 1},
                                   {"ReduceSumSquare", {127}, {}, -1, 1}}) {
    OpCase c;
    c.op = r.op;
    c.opset = 18;
    c.name = std::string(r.op) + "/f16_" + shape_to_string(r.shape);
    c.inputs = {as_f16(in_f32(r.shape, r.lo, r.hi))};
    if (r.axes.empty())
      c.inputs.push_back(omitted());
    else
      c.inputs.push_back(const_i64(r.axes));
    c.attrs["keepdims"] = attr_i(0);
    c.atol = kHalfAtol;
    c.rtol = kHalfRtol;
    v.push_back(c);
  }
  for (const char* op : {"ArgMax", "ArgMin"}) {
    OpCase c;
    c.op = op;
    c.opset = 13;
    c.name = std::string(op) + "/f16_3x5x7_ax1";
    c.inputs = {as_f16(in_f32({3, 5, 7}, -4, 4))};
    c.attrs["axis"] = attr_i(1);
    v.push_back(c);
  }
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (const Shape& s : std::vector<Shape>{{2, 4, 13, 128}, {3, 5, 7}, {1}}) {
      OpCase c;
      c.op = op;
      c.opset = 13;
      c.name = std::string(op) + "/f16_" + shape_to_string(s);
      c.inputs = {as_f16(in_f32(s, -6, 6))};
      c.atol = kHalfAtol;
      c.rtol = kHalfRtol;
      v.push_back(c);
    }
    OpCase c;
    c.op = op;
    c.opset = 11;
    c.name = std::string(op) + "/f16_o11_3x5x7_ax0";
    c.inputs = {as_f16(in_f32({3, 5, 7}, -6, 6))};
    c.attrs["axis"] = attr_i(0);
    c.atol = kHalfAtol;
    c.rtol = kHalfRtol;
    v.push_back(c);
  }
  struct L {
    const char* tag;
    Shape x, scale, bias;
    int64_t axis;
  };
  for (const L& l : std::vector<L>{{"13x768", {13, 768}, {768}, {768}, -1},
                                   {"bcast_2x3x5_ax1", {2, 3, 5}, {1, 5}, {3, 1}, 1},
                                   {"no_bias_3x127", {3, 127}, {127}, {}, -1}}) {
    OpCase c;
    c.op = "LayerNormalization";
    c.opset = 17;
    c.name = std::string("LayerNormalization/f16_") + l.tag;
    c.inputs = {as_f16(in_f32(l.x, -3, 5)), as_f16(const_f32(l.scale, 0.5, 1.5)),
                l.bias.empty() ? omitted() : as_f16(const_f32(l.bias, -1, 1))};
    c.attrs["axis"] = attr_i(l.axis);
    c.atol = kHalfAtol;
    c.rtol = kHalfRtol;
    v.push_back(c);
  }
}

void reduce_cases_into(std::vector<OpCase>& v) {
  struct Pattern {
    const char* tag;
    Shape shape;
    std::vector<int64_t> axes;  // empty: all
    int keepdims;
  };
  const std::vector<Pattern> patterns = {
      {"all_127", {127}, {}, 1},
      {"one_1", {1}, {0}, 0},
      {"mid_3x5x7", {3, 5, 7}, {1}, 1},
      {"outer_inner_3x5x7", {3, 5, 7}, {0, 2}, 0},
      {"last_neg_13x5", {13, 5}, {-1}, 0},
      {"r5_2x3x4x5x6", {2, 3, 4, 5, 6}, {1, 3}, 1},
      {"r5_neg_2x3x4x5x6", {2, 3, 4, 5, 6}, {-4, -1, 0}, 0},
      {"unit_dim_2x1x3", {2, 1, 3}, {1}, 1},
      {"row_13x768", {13, 768}, {-1}, 1},
      {"row_4x3072", {4, 3072}, {1}, 0},
      {"col_300x7", {300, 7}, {0}, 1},
  };
  struct Op {
    const char* op;
    double lo, hi;
    int axes_input_since;
  };
  const std::vector<Op> ops = {
      {"ReduceSum", -1, 1, 13},       {"ReduceMean", -1, 1, 18},    {"ReduceMax", -1, 1, 18},
      {"ReduceMin", -1, 1, 18},       {"ReduceProd", 0.9, 1.1, 18}, {"ReduceL2", -1, 1, 18},
      {"ReduceSumSquare", -1, 1, 18},
  };
  for (const Op& op : ops) {
    for (const Pattern& p : patterns) {
      // Attribute form (opset 11 / 13) and input form (opset 13 / 18).
      for (bool as_input : {false, true}) {
        OpCase c;
        c.op = op.op;
        c.opset = as_input ? op.axes_input_since : (op.axes_input_since == 13 ? 11 : 13);
        c.name = std::string(op.op) + "/" + p.tag + (as_input ? "_axes_input" : "_axes_attr");
        c.inputs = {in_f32(p.shape, op.lo, op.hi)};
        c.attrs["keepdims"] = attr_i(p.keepdims);
        if (as_input) {
          if (!p.axes.empty()) c.inputs.push_back(const_i64(p.axes));
        } else if (!p.axes.empty()) {
          c.attrs["axes"] = attr_ints(p.axes);
        }
        c.atol = 1e-5;
        c.rtol = 1e-5;
        v.push_back(c);
      }
    }
    // noop_with_empty_axes: no axes at all means identity; empty axes input also.
    OpCase c;
    c.op = op.op;
    c.opset = op.axes_input_since;
    c.name = std::string(op.op) + "/noop_empty_axes_3x5";
    c.inputs = {in_f32({3, 5}, op.lo, op.hi)};
    c.attrs["noop_with_empty_axes"] = attr_i(1);
    v.push_back(c);
    c.name = std::string(op.op) + "/noop_empty_axes_input_3x5";
    c.inputs.push_back(const_i64({}));
    v.push_back(c);
    c.name = std::string(op.op) + "/empty_axes_input_reduces_all_3x5";
    c.attrs.clear();
    v.push_back(c);
    c.name = std::string(op.op) + "/fed_axes_input_4x6x5";
    c.inputs = {in_f32({4, 6, 5}, op.lo, op.hi), fed_i64({2, 0})};
    v.push_back(c);
  }
  // NaN propagates through Max/Min, infinities through Sum.
  {
    std::vector<double> vals = {1, 2, NAN, 4, -1, 3, 0.5, -2};
    for (const char* op : {"ReduceMax", "ReduceMin", "ReduceSum"}) {
      OpCase c;
      c.op = op;
      c.opset = 13;
      c.name = std::string(op) + "/nan_4x8";
      c.inputs = {explicit_f32({4, 8}, vals)};
      if (std::string(op) != "ReduceSum") c.attrs["axes"] = attr_ints({1});
      if (std::string(op) == "ReduceSum") c.inputs.push_back(const_i64({1}));
      v.push_back(c);
    }
    // Reducing an empty axis gives each op's identity (Mean: NaN).
    for (const Op& op : ops) {
      OpCase c;
      c.op = op.op;
      c.opset = 18;
      c.name = std::string(op.op) + "/empty_axis_0x3";
      c.inputs = {in_f32({0, 3}), const_i64({0})};
      v.push_back(c);
      c.name = std::string(op.op) + "/empty_output_0x3";
      c.inputs = {in_f32({0, 3}), const_i64({1})};
      v.push_back(c);
    }
    OpCase c;
    c.op = "ReduceSum";
    c.opset = 13;
    c.name = "ReduceSum/inf_2x3";
    c.inputs = {explicit_f32({2, 3}, {INFINITY, 1, 2, -INFINITY, 1, 2}), const_i64({1})};
    v.push_back(c);
  }
}

void arg_cases_into(std::vector<OpCase>& v) {
  struct P {
    const char* tag;
    Shape shape;
    int64_t axis;
    int keepdims;
  };
  const std::vector<P> pats = {
      {"127", {127}, 0, 1},
      {"1", {1}, 0, 0},
      {"3x5x7_ax1", {3, 5, 7}, 1, 1},
      {"3x5x7_neg", {3, 5, 7}, -1, 0},
      {"13x768", {13, 768}, 1, 1},
      {"2x3x4x5x6_ax2", {2, 3, 4, 5, 6}, 2, 0},
      {"3000x2_ax0", {3000, 2}, 0, 1},
  };
  for (const char* op : {"ArgMax", "ArgMin"}) {
    for (const P& p : pats) {
      OpCase c;
      c.op = op;
      c.opset = 13;
      c.name = std::string(op) + "/" + p.tag;
      c.inputs = {in_f32(p.shape)};
      c.attrs = {{"axis", attr_i(p.axis)}, {"keepdims", attr_i(p.keepdims)}};
      v.push_back(c);
    }
    // Ties and NaN, first and last index, long rows (tree) and short ones.
    const std::vector<double> ties = {1, 3, 3, -2, 3, -2, 0, 1, -2, 3, 1};
    const std::vector<double> nans = {1, NAN, 3, NAN, -5, 2, NAN};
    for (int last : {0, 1}) {
      for (const auto& [tag, shape, vals] :
           std::vector<std::tuple<std::string, Shape, std::vector<double>>>{
               {"ties_5x11", {5, 11}, ties},
               {"ties_2x3003", {2, 3003}, ties},
               {"nan_3x7", {3, 7}, nans},
               {"nan_2x777", {2, 777}, nans},
           }) {
        OpCase c;
        c.op = op;
        c.opset = 12;
        c.name = std::string(op) + "/" + tag + (last ? "_last" : "_first");
        c.inputs = {explicit_f32(shape, vals)};
        c.attrs = {{"axis", attr_i(-1)}, {"select_last_index", attr_i(last)}};
        v.push_back(c);
        c.name += "_axis0";
        c.attrs["axis"] = attr_i(0);
        v.push_back(c);
      }
    }
    OpCase c;
    c.op = op;
    c.opset = 11;
    c.name = std::string(op) + "/opset11_default_axis_4x9";
    c.inputs = {in_f32({4, 9})};
    v.push_back(c);
  }
}

void softmax_cases_into(std::vector<OpCase>& v) {
  struct P {
    const char* tag;
    int opset;
    Shape shape;
    bool has_axis;
    int64_t axis;
  };
  const std::vector<P> pats = {
      {"o13_127", 13, {127}, false, 0},
      {"o13_1", 13, {1}, false, 0},
      {"o13_3x5x7_ax1", 13, {3, 5, 7}, true, 1},
      {"o13_3x5x7_ax0", 13, {3, 5, 7}, true, 0},
      {"o13_2x3x4x5x6_neg3", 13, {2, 3, 4, 5, 6}, true, -3},
      {"o13_12x768", 13, {12, 768}, true, -1},
      {"o13_attn_2x4x13x128", 13, {2, 4, 13, 128}, false, 0},
      {"o13_3x3072", 13, {3, 3072}, false, 0},
      {"o11_3x5x7_default", 11, {3, 5, 7}, false, 0},
      {"o11_3x5x7_ax0", 11, {3, 5, 7}, true, 0},
      {"o11_2x3x4x5_neg2", 11, {2, 3, 4, 5}, true, -2},
      {"o1_13x5_ax2", 1, {13, 5}, true, 2},
      {"o1_1d_default", 1, {13}, false, 0},
  };
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (const P& p : pats) {
      OpCase c;
      c.op = op;
      c.opset = p.opset;
      c.name = std::string(op) + "/" + p.tag;
      c.inputs = {in_f32(p.shape, -6, 6)};
      if (p.has_axis) c.attrs["axis"] = attr_i(p.axis);
      c.atol = 1e-5;
      c.rtol = 1e-5;
      v.push_back(c);
    }
    OpCase c;
    c.op = op;
    c.opset = 13;
    c.name = std::string(op) + "/empty_0x5";
    c.inputs = {in_f32({0, 5})};
    v.push_back(c);
    c.name = std::string(op) + "/large_values_4x9";
    c.inputs = {in_f32({4, 9}, 500, 1000)};
    c.atol = 1e-4;
    v.push_back(c);
    c.name = std::string(op) + "/special_values_4x3";
    c.inputs = {explicit_f32(
        {4, 3}, {1, NAN, 2, INFINITY, 0, 1, -INFINITY, -INFINITY, -INFINITY, -INFINITY, 0, 1})};
    v.push_back(c);
  }
}

void layer_norm_cases_into(std::vector<OpCase>& v) {
  struct P {
    const char* tag;
    Shape x, scale, bias;  // bias {} with no_bias: omitted
    bool no_bias;
    bool has_axis;
    int64_t axis;
  };
  const std::vector<P> pats = {
      {"last_13x768", {13, 768}, {768}, {768}, false, false, 0},
      {"last_4x3072", {4, 3072}, {3072}, {3072}, false, false, 0},
      {"no_bias_3x127", {3, 127}, {127}, {}, true, false, 0},
      {"ax1_2x3x5", {2, 3, 5}, {3, 5}, {3, 5}, false, true, 1},
      {"ax0_2x3x5", {2, 3, 5}, {2, 3, 5}, {5}, false, true, 0},
      {"bcast_scale_2x3x5", {2, 3, 5}, {1, 5}, {3, 1}, false, true, -2},
      {"bcast_outer_4x3x7", {4, 3, 7}, {4, 1, 7}, {3, 7}, false, true, -1},
      {"scalar_scale_5x13", {5, 13}, {}, {1}, false, false, 0},
      {"r5_2x3x4x5x6_ax2", {2, 3, 4, 5, 6}, {4, 5, 6}, {6}, false, true, 2},
      {"one_1", {1}, {1}, {1}, false, false, 0},
  };
  for (const P& p : pats) {
    OpCase c;
    c.op = "LayerNormalization";
    c.opset = 17;
    c.name = std::string("LayerNormalization/") + p.tag;
    c.inputs = {in_f32(p.x, -3, 5), const_f32(p.scale, 0.5, 1.5),
                p.no_bias ? omitted() : const_f32(p.bias, -1, 1)};
    if (p.has_axis) c.attrs["axis"] = attr_i(p.axis);
    c.atol = 1e-5;
    c.rtol = 1e-5;
    v.push_back(c);
  }
  // onnxruntime's default-domain LayerNormalization below opset 17 (its optimizer and kiln's
  // level-2 fusion write it), same semantics as opset 17.
  for (int opset : {1, 14}) {
    OpCase o;
    o.op = "LayerNormalization";
    o.opset = opset;
    o.name = "LayerNormalization/opset" + std::to_string(opset) + "_2x13x127";
    o.inputs = {in_f32({2, 13, 127}, -3, 5), const_f32({127}, 0.5, 1.5),
                opset == 1 ? omitted() : const_f32({127}, -1, 1)};
    o.atol = 1e-5;
    o.rtol = 1e-5;
    v.push_back(o);
  }
  OpCase c;
  c.op = "LayerNormalization";
  c.opset = 17;
  c.name = "LayerNormalization/epsilon_fed_scale_6x9";
  c.inputs = {in_f32({6, 9}, -1, 1), in_f32({9}), in_f32({9})};
  c.attrs["epsilon"] = attr_f(0.1f);
  v.push_back(c);
}

void cast_cases_into(std::vector<OpCase>& v) {
  // Integer and bool inputs need more than 4096 elements, or the executor keeps them on the host
  // as shape arithmetic.
  const Shape big = {5, 1001};
  const std::vector<double> specials = {0.0,       -0.0,   0.5,    -0.5,         1.5,     -1.5,
                                        2.5,       -2.7,   1e10,   -1e10,        NAN,     INFINITY,
                                        -INFINITY, 3e9,    -3e9,   65504.0,      65520.0, 1e-8,
                                        6.1e-5,    2049.0, 2051.0, 1.0009765625, 123456.7};
  auto f32 = [&](Shape s) {
    InputSpec i = explicit_f32(std::move(s), specials);
    return i;
  };
  struct P {
    const char* tag;
    InputSpec in;
    DType to;
  };
  InputSpec i64 = in_i64(big, -100000, 100000);
  InputSpec i64_big = in_i64(big, -100000, 100000);
  i64_big.values = {0, 1, -1, 4294967297.0, -4294967297.0, 2147483648.0, 16777217.0, 65519, 70000};
  InputSpec i32 = in_i64(big, -70000, 70000);
  i32.dtype = DType::kInt32;
  InputSpec b = in_bool(big);
  InputSpec h = in_f32(big, -70000, 70000);
  h.dtype = DType::kFloat16;
  InputSpec h_small = in_f32({127}, -3, 3);
  h_small.dtype = DType::kFloat16;
  const std::vector<P> pats = {
      {"f32_to_i32", f32({127}), DType::kInt32},
      {"f32_to_i64", f32({127}), DType::kInt64},
      {"f32_to_bool", f32({127}), DType::kBool},
      {"f32_to_f16", f32({127}), DType::kFloat16},
      {"f32_to_f16_random_13x5", in_f32({13, 5}, -70000, 70000), DType::kFloat16},
      {"f32_to_f32_alias", in_f32({13}), DType::kFloat32},
      {"i64_to_f32", i64, DType::kFloat32},
      {"i64_to_i32_wrap", i64_big, DType::kInt32},
      {"i64_to_f32_large", i64_big, DType::kFloat32},
      {"i64_to_f16", i64_big, DType::kFloat16},
      {"i64_to_bool", i64, DType::kBool},
      {"i32_to_i64", i32, DType::kInt64},
      {"i32_to_f32", i32, DType::kFloat32},
      {"i32_to_bool", i32, DType::kBool},
      {"bool_to_f32", b, DType::kFloat32},
      {"bool_to_i64", b, DType::kInt64},
      {"bool_to_i32", b, DType::kInt32},
      {"bool_to_f16", b, DType::kFloat16},
      {"f16_to_f32", h_small, DType::kFloat32},
      {"f16_to_i64", h, DType::kInt64},
      {"f16_to_i32", h, DType::kInt32},
      {"f16_to_bool", h, DType::kBool},
      {"f32_to_i64_empty", in_f32({0, 4}), DType::kInt64},
  };
  for (const P& p : pats) {
    OpCase c;
    c.op = "Cast";
    c.opset = 13;
    c.name = std::string("Cast/") + p.tag;
    c.inputs = {p.in};
    c.attrs["to"] = attr_i(static_cast<int64_t>(p.to));
    c.atol = 0;
    c.rtol = 0;
    v.push_back(c);
  }
  OpCase c;
  c.op = "Cast";
  c.opset = 19;
  c.name = "Cast/opset19_saturate_f32_to_i32";
  c.inputs = {f32({3, 7})};
  c.attrs["to"] = attr_i(static_cast<int64_t>(DType::kInt32));
  c.attrs["saturate"] = attr_i(1);
  c.atol = 0;
  c.rtol = 0;
  v.push_back(c);
}

}  // namespace

std::vector<OpCase> reduce_cases() {
  std::vector<OpCase> v;
  reduce_cases_into(v);
  arg_cases_into(v);
  softmax_cases_into(v);
  layer_norm_cases_into(v);
  cast_cases_into(v);
  half_cases_into(v);
  return v;
}

}  // namespace kiln::testing
