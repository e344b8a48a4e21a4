// OpCases for IsNaN / IsInf, int64 arithmetic and comparisons, and the com.microsoft contrib ops
// with OpenCL kernels (Gelu family, BiasAdd, skip / simplified layer norms, Attention and
// MultiHeadAttention, EmbedLayerNormalization).
#include <algorithm>
#include <cmath>
#include <limits>

#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

const char* kMs = "com.microsoft";

InputSpec with_values(InputSpec s, std::vector<double> v) {
  s.values = std::move(v);
  return s;
}

InputSpec in_i32(Shape s, std::vector<double> values) {
  InputSpec i;
  i.dtype = DType::kInt32;
  i.shape = std::move(s);
  i.values = std::move(values);
  return i;
}

OpCase ms_case(std::string name, std::string op, std::vector<InputSpec> in) {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.domain = kMs;
  c.opset = 1;
  c.inputs = std::move(in);
  return c;
}

OpCase onnx_case(std::string name, std::string op, int opset, std::vector<InputSpec> in,
                 std::map<std::string, ir::Attribute> attrs = {}) {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.opset = opset;
  c.inputs = std::move(in);
  c.attrs = std::move(attrs);
  return c;
}

void add_classify(std::vector<OpCase>& v) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> special = {1.5, nan, inf, -inf, 0.0, -2.0, nan};
  for (Shape s : {Shape{1}, Shape{13}, Shape{3, 127}, Shape{2, 3, 5, 7}}) {
    std::string tag = std::to_string(numel_of(s));
    v.push_back(onnx_case("IsNaN/" + tag, "IsNaN", 13, {with_values(in_f32(s), special)}, {}));
    v.push_back(onnx_case("IsInf/" + tag, "IsInf", 10, {with_values(in_f32(s), special)}, {}));
  }
  v.push_back(onnx_case("IsInf/pos_only", "IsInf", 10, {with_values(in_f32({13}), special)},
                        {{"detect_negative", attr_i(0)}}));
  v.push_back(onnx_case("IsInf/neg_only", "IsInf", 10, {with_values(in_f32({13}), special)},
                        {{"detect_positive", attr_i(0)}}));
  v.push_back(onnx_case("IsNaN/opset9", "IsNaN", 9, {with_values(in_f32({5, 3}), special)}, {}));
}

// int64 cases use a first operand above 4096 elements: smaller all-int host inputs are kept on
// the CPU by the executor's shape-computation rule.
void add_int64(std::vector<OpCase>& v) {
  for (const char* op : {"Add", "Sub", "Mul", "Min", "Max", "Equal", "Less", "Greater",
                         "LessOrEqual", "GreaterOrEqual"}) {
    std::string o = op;
    v.push_back(onnx_case(o + "/i64_67x127", o, 13,
                          {in_i64({67, 127}, -50, 50), in_i64({67, 127}, -50, 50)}, {}));
    v.push_back(
        onnx_case(o + "/i64_bcast", o, 13, {in_i64({5, 1, 1031}, -9, 9), in_i64({7, 1}, -9, 9)}));
  }
  v.push_back(
      onnx_case("Where/i64_bcast", "Where", 16,
                {in_bool({5, 1, 1031}), in_i64({5, 7, 1031}, -9, 9), in_i64({7, 1}, -9, 9)}));
  v.push_back(onnx_case(
      "Where/i64_67x127", "Where", 16,
      {in_bool({67, 127}), in_i64({67, 127}, -1000, 1000), in_i64({67, 127}, -1000, 1000)}));
  v.push_back(onnx_case("Add/i64_scalar_large", "Add", 14,
                        {in_i64({2, 4099}, -4000000000000LL, 4000000000000LL), in_i64({}, 1, 1000)},
                        {}));
  v.push_back(onnx_case(
      "Mul/i64_rank5", "Mul", 14,
      {in_i64({4, 1, 3, 1, 400}, -1000, 1000), in_i64({1, 4, 1, 2, 400}, -1000, 1000)}, {}));
}

void add_act(std::vector<OpCase>& v) {
  for (Shape s : {Shape{1}, Shape{13}, Shape{2, 7, 13}, Shape{1, 3, 5, 127}}) {
    std::string tag = std::to_string(numel_of(s));
    int64_t c = s.back();
    v.push_back(ms_case("ms.Gelu/" + tag, "Gelu", {in_f32(s, -4, 4)}));
    v.push_back(ms_case("ms.FastGelu/" + tag, "FastGelu", {in_f32(s, -4, 4)}));
    v.push_back(ms_case("ms.FastGelu/bias_" + tag, "FastGelu", {in_f32(s, -4, 4), in_f32({c})}));
    v.push_back(ms_case("ms.BiasGelu/" + tag, "BiasGelu", {in_f32(s, -4, 4), const_f32({c})}));
    v.push_back(ms_case("ms.QuickGelu/" + tag, "QuickGelu", {in_f32(s, -4, 4)}));
  }
  OpCase q = ms_case("ms.QuickGelu/alpha", "QuickGelu", {in_f32({3, 11}, -4, 4)});
  q.attrs["alpha"] = attr_f(0.5f);
  v.push_back(q);
  v.push_back(ms_case("ms.BiasAdd/2x7x13", "BiasAdd",
                      {in_f32({2, 7, 13}), in_f32({13}), in_f32({2, 7, 13})}));
  v.push_back(
      ms_case("ms.BiasAdd/1x1x1", "BiasAdd", {in_f32({1, 1, 1}), in_f32({1}), in_f32({1, 1, 1})}));
}

void add_norms(std::vector<OpCase>& v) {
  for (Shape s : {Shape{1, 1, 1}, Shape{2, 7, 13}, Shape{13, 127}, Shape{1, 5, 768}}) {
    std::string tag = std::to_string(numel_of(s));
    int64_t h = s.back();
    Shape skip2 = s.size() == 3 ? Shape{s[1], h} : s;
    auto base = [&](std::string name, std::string op, std::vector<InputSpec> in) {
      OpCase c = ms_case(std::move(name), std::move(op), std::move(in));
      c.atol = 1e-4;  // float row statistics vs the CPU's double
      c.rtol = 1e-4;
      return c;
    };
    v.push_back(base("ms.SkipLayerNormalization/" + tag, "SkipLayerNormalization",
                     {in_f32(s, -3, 3), in_f32(s), const_f32({h}, 0.5, 1.5)}));
    v.push_back(base(
        "ms.SkipLayerNormalization/beta_bias_" + tag, "SkipLayerNormalization",
        {in_f32(s, -3, 3), in_f32(s), const_f32({h}, 0.5, 1.5), const_f32({h}), const_f32({h})}));
    OpCase all = base("ms.SkipLayerNormalization/all_outputs_" + tag, "SkipLayerNormalization",
                      {in_f32(s, -3, 3), in_f32(skip2), const_f32({h}, 0.5, 1.5), const_f32({h})});
    all.num_outputs = 4;
    all.attrs["epsilon"] = attr_f(1e-5f);
    v.push_back(all);
    OpCase ss =
        base("ms.SkipSimplifiedLayerNormalization/" + tag, "SkipSimplifiedLayerNormalization",
             {in_f32(s, -3, 3), in_f32(s), const_f32({h}, 0.5, 1.5), const_f32({h})});
    ss.num_outputs = 4;
    v.push_back(ss);
    OpCase rms = base("SimplifiedLayerNormalization/" + tag, "SimplifiedLayerNormalization",
                      {in_f32(s, -3, 3), const_f32({h}, 0.5, 1.5)});
    rms.domain = "";
    rms.opset = 17;
    v.push_back(rms);
  }
  OpCase ax = ms_case("SimplifiedLayerNormalization/axis_m2", "SimplifiedLayerNormalization",
                      {in_f32({3, 5, 7}), const_f32({5, 7})});
  ax.domain = "";
  ax.opset = 17;
  ax.attrs["axis"] = attr_i(-2);
  ax.num_outputs = 2;
  ax.atol = ax.rtol = 1e-4;
  v.push_back(ax);
}

// Attention tolerance: 1e-4 absolute. The device sums the softmax online (the running sum and
// accumulator are rescaled whenever a key tile raises the max) in float and folds the bias in
// as q.bias_k, while the CPU sums in double after one global max; outputs are convex
// combinations of values in [-1, 1], so the differences stay around 1e-6.
OpCase attn_case(std::string name, std::string op, std::vector<InputSpec> in, int64_t heads) {
  OpCase c = ms_case(std::move(name), std::move(op), std::move(in));
  c.attrs["num_heads"] = attr_i(heads);
  c.atol = 1e-4;
  c.rtol = 0;
  return c;
}

std::vector<double> lengths(int64_t b, int64_t s) {
  std::vector<double> v;
  for (int64_t i = 0; i < b; ++i) v.push_back(static_cast<double>(std::max<int64_t>(1, s - i * 3)));
  return v;
}

std::vector<double> raw_mask(int64_t b, int64_t s) {
  std::vector<double> v;
  for (int64_t i = 0; i < b; ++i)
    for (int64_t t = 0; t < s; ++t) v.push_back(t == 0 || (t * 7 + i) % 5 != 0 ? 1 : 0);
  return v;
}

void add_attention(std::vector<OpCase>& v) {
  // MultiHeadAttention: separate Q, K, V [B, S, N * H].
  for (int64_t hs : {8, 32, 64}) {
    for (int64_t s : {1, 7, 13, 127}) {
      const int64_t b = 2, n = hs == 64 ? 2 : 3, d = n * hs;
      std::string tag = "h" + std::to_string(hs) + "_s" + std::to_string(s);
      v.push_back(attn_case("ms.MultiHeadAttention/" + tag, "MultiHeadAttention",
                            {in_f32({b, s, d}), in_f32({b, s, d}), in_f32({b, s, d})}, n));
      v.push_back(attn_case("ms.MultiHeadAttention/mask2d_" + tag, "MultiHeadAttention",
                            {in_f32({b, s, d}), in_f32({b, s, d}), in_f32({b, s, d}), omitted(),
                             in_i32({b, s}, raw_mask(b, s))},
                            n));
      if (s == 1) continue;
      OpCase c = attn_case("ms.MultiHeadAttention/causal_" + tag, "MultiHeadAttention",
                           {in_f32({b, s, d}), in_f32({b, s, d}), in_f32({b, s, d})}, n);
      c.attrs["unidirectional"] = attr_i(1);
      v.push_back(c);
    }
  }
  // Cross attention (kv length != query length), bias, attention_bias, 1-D lengths, head size 80.
  v.push_back(attn_case("ms.MultiHeadAttention/cross_bias_ab", "MultiHeadAttention",
                        {in_f32({2, 7, 24}), in_f32({2, 13, 24}), in_f32({2, 13, 12}),
                         const_f32({60}), omitted(), in_f32({1, 3, 7, 13}, -2, 2)},
                        3));
  v.push_back(attn_case("ms.MultiHeadAttention/lengths_ab_full", "MultiHeadAttention",
                        {in_f32({2, 13, 16}), in_f32({2, 13, 16}), in_f32({2, 13, 16}), omitted(),
                         in_i32({2}, {13, 5}), in_f32({2, 2, 13, 13}, -2, 2)},
                        2));
  v.push_back(attn_case("ms.MultiHeadAttention/start_end", "MultiHeadAttention",
                        {in_f32({2, 7, 16}), in_f32({2, 9, 16}), in_f32({2, 9, 16}), omitted(),
                         in_i32({4}, {9, 6, 2, 0})},
                        2));
  v.push_back(attn_case("ms.MultiHeadAttention/mask3d_h80", "MultiHeadAttention",
                        {in_f32({1, 13, 160}), in_f32({1, 13, 160}), in_f32({1, 13, 160}),
                         omitted(), in_i32({1, 13, 13}, raw_mask(13, 13))},
                        2));
  v.push_back(
      attn_case("ms.MultiHeadAttention/h5_odd", "MultiHeadAttention",
                {in_f32({1, 7, 15}), in_f32({1, 7, 15}), in_f32({1, 7, 9}), const_f32({39})}, 3));
  OpCase sc = attn_case("ms.MultiHeadAttention/scale_h128", "MultiHeadAttention",
                        {in_f32({1, 7, 128}), in_f32({1, 7, 128}), in_f32({1, 7, 128})}, 1);
  sc.attrs["scale"] = attr_f(0.3f);
  v.push_back(sc);

  // Attention: input [B, S, Din] x weights [Din, 3 * D] + bias, then the fused core.
  for (int64_t hs : {8, 32, 64}) {
    for (int64_t s : {1, 7, 13, 127}) {
      const int64_t b = 2, n = 2, d = n * hs, din = 24;
      std::string tag = "h" + std::to_string(hs) + "_s" + std::to_string(s);
      v.push_back(attn_case(
          "ms.Attention/" + tag, "Attention",
          {in_f32({b, s, din}), const_f32({din, 3 * d}, -0.5, 0.5), const_f32({3 * d})}, n));
      v.push_back(attn_case("ms.Attention/raw2d_" + tag, "Attention",
                            {in_f32({b, s, din}), const_f32({din, 3 * d}, -0.5, 0.5),
                             const_f32({3 * d}), in_i32({b, s}, raw_mask(b, s))},
                            n));
      v.push_back(attn_case("ms.Attention/lengths_" + tag, "Attention",
                            {in_f32({b, s, din}), const_f32({din, 3 * d}, -0.5, 0.5),
                             const_f32({3 * d}), in_i32({b}, lengths(b, s))},
                            n));
      if (s == 1) continue;
      OpCase c = attn_case("ms.Attention/causal_" + tag, "Attention",
                           {in_f32({b, s, din}), const_f32({din, 3 * d}, -0.5, 0.5),
                            const_f32({3 * d}), in_i32({b}, lengths(b, s))},
                           n);
      c.attrs["unidirectional"] = attr_i(1);
      v.push_back(c);
    }
  }
  OpCase qkv = attn_case("ms.Attention/qkv_sizes_no_bias", "Attention",
                         {in_f32({1, 13, 10}), const_f32({10, 16 + 16 + 32}, -0.5, 0.5)}, 4);
  qkv.attrs["qkv_hidden_sizes"] = attr_ints({16, 16, 32});
  v.push_back(qkv);
}

// Random int32 ids in [0, hi).
InputSpec ids_i32(Shape s, int64_t hi) {
  InputSpec i;
  i.dtype = DType::kInt32;
  i.shape = std::move(s);
  i.lo = 0;
  i.hi = static_cast<double>(hi);
  return i;
}

// EmbedLayerNormalization: inputs input_ids, segment_ids, word, position, segment embeddings,
// gamma, beta, mask, position_ids. Tolerance 1e-4 as the other row norms (float row statistics
// vs the CPU's double). Out-of-range ids (a CPU error) are tested in memory_plan_test.cpp: the
// harness compares successful runs only.
void add_embed(std::vector<OpCase>& v) {
  struct Form {
    std::string tag;
    int64_t b, s, h, vocab, positions;
    bool segment, mask, sum;
    int pos_ids;  // 0 none, 1 [1, S], 2 [B, S]
  };
  const std::vector<Form> forms = {
      {"1x1x1", 1, 1, 1, 3, 1, false, false, false, 0},
      {"seg_mask_2x7x13", 2, 7, 13, 50, 16, true, true, false, 0},
      {"sum_3x13x127", 3, 13, 127, 40, 13, false, false, true, 0},
      {"posids_b1_2x13x33", 2, 13, 33, 17, 20, true, true, true, 1},
      {"posids_2x5x64", 2, 5, 64, 9, 7, false, true, false, 2},
      {"bert_1x127x768", 1, 127, 768, 100, 128, true, true, false, 0},
  };
  for (const Form& f : forms) {
    const Shape ids{f.b, f.s};
    std::vector<InputSpec> in = {ids_i32(ids, f.vocab),
                                 f.segment ? ids_i32(ids, 2) : omitted(),
                                 const_f32({f.vocab, f.h}),
                                 const_f32({f.positions, f.h}),
                                 f.segment ? const_f32({2, f.h}) : omitted(),
                                 const_f32({f.h}, 0.5, 1.5),
                                 const_f32({f.h}),
                                 f.mask ? ids_i32(ids, 2) : omitted()};
    if (f.pos_ids) in.push_back(ids_i32({f.pos_ids == 1 ? 1 : f.b, f.s}, f.positions));
    OpCase c = ms_case("ms.EmbedLayerNormalization/" + f.tag, "EmbedLayerNormalization", in);
    c.num_outputs = f.sum ? 3 : 2;
    c.attrs["epsilon"] = attr_f(1e-5f);
    c.atol = 1e-4;
    c.rtol = 1e-4;
    v.push_back(c);
  }
}

}  // namespace

std::vector<OpCase> contrib_cases() {
  std::vector<OpCase> v;
  add_classify(v);
  add_int64(v);
  add_act(v);
  add_norms(v);
  add_attention(v);
  add_embed(v);
  return v;
}

}  // namespace kiln::testing
