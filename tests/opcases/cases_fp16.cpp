// OpCases for the float16-storage kernels (Vulkan's _f16 shader variants, OpenCL's KILN_HALF
// kernels) in the shapes an fp16-converted transformer or CNN gives them: vec4 and scalar GEMM
// paths with batch broadcasting, Gemm with bias, Softmax/LogSoftmax, LayerNormalization,
// reductions, Casts in and out of float16, Gelu and IsNaN/IsInf. Odd sizes (1, 13, 127) and
// non-multiples of the GEMM tiles (4x8 per invocation, 8x8 workgroups).
//
// Tolerance: both sides compute in float and round once to float16, so they differ by at most
// one float16 ulp where float results straddle a rounding boundary: 2^-9 relative (two ulps of
// a normal value, leaving room for float sums in different orders), and 2^-14 absolute for
// results that cancel to near zero (one ulp of values around 1/16).
#include <cmath>

#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

constexpr double kRtol = 1.0 / 512.0;
constexpr double kAtol = 1.0 / 16384.0;

InputSpec h(InputSpec i) {
  i.dtype = DType::kFloat16;
  return i;
}

OpCase make(const std::string& name, const std::string& op, int opset,
            std::vector<InputSpec> inputs, std::map<std::string, ir::Attribute> attrs = {}) {
  OpCase c;
  c.name = "fp16/" + name;
  c.op = op;
  c.opset = opset;
  c.inputs = std::move(inputs);
  c.attrs = std::move(attrs);
  c.rtol = kRtol;
  c.atol = kAtol;
  return c;
}

}  // namespace

std::vector<OpCase> fp16_cases() {
  std::vector<OpCase> v;
  // MatMul: vec4 path (K, N multiples of 4), scalar path (odd K/N), batch broadcast, B constant
  // (an fp16-converted weight), 1-D operands.
  struct MM {
    Shape a, b;
    bool b_const;
  };
  const std::vector<MM> mms = {
      {{1, 8}, {8, 4}, false},
      {{2, 13, 16}, {16, 20}, true},
      {{127, 13}, {13, 9}, false},
      {{3, 1, 5, 8}, {2, 8, 12}, false},
      {{2, 4, 7, 32}, {2, 4, 32, 7}, false},
      {{13}, {13, 5}, true},
      {{1, 33, 64}, {64, 68}, true},
  };
  for (const MM& m : mms) {
    std::string name = "MatMul_" + shape_to_string(m.a) + "x" + shape_to_string(m.b);
    v.push_back(
        make(name, "MatMul", 13, {h(in_f32(m.a)), h(m.b_const ? const_f32(m.b) : in_f32(m.b))}));
  }
  // Gemm: transposed weight with a row bias (a converted Linear), alpha/beta, no bias.
  v.push_back(make("Gemm_transB_bias_13x16x20", "Gemm", 13,
                   {h(in_f32({13, 16})), h(const_f32({20, 16})), h(const_f32({20}))},
                   {{"transB", attr_i(1)}}));
  v.push_back(make("Gemm_alpha_beta_7x5x3", "Gemm", 13,
                   {h(in_f32({5, 7})), h(in_f32({5, 3})), h(in_f32({7, 1}))},
                   {{"transA", attr_i(1)}, {"alpha", attr_f(0.5f)}, {"beta", attr_f(2.0f)}}));
  v.push_back(make("Gemm_nobias_1x127x1", "Gemm", 13, {h(in_f32({1, 127})), h(in_f32({127, 1}))}));
  // Softmax / LogSoftmax over the last axis (attention scores) and a middle one.
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    v.push_back(make(std::string(op) + "_2x3x13x13", op, 13, {h(in_f32({2, 3, 13, 13}, -8, 8))}));
    v.push_back(make(std::string(op) + "_axis1_3x127x5", op, 13, {h(in_f32({3, 127, 5}, -4, 4))},
                     {{"axis", attr_i(1)}}));
    v.push_back(make(std::string(op) + "_1", op, 13, {h(in_f32({1}))}));
  }
  // LayerNormalization: a transformer's hidden states, and no bias on an odd row.
  v.push_back(
      make("LayerNormalization_2x13x32", "LayerNormalization", 17,
           {h(in_f32({2, 13, 32}, -3, 3)), h(const_f32({32}, 0.5, 1.5)), h(const_f32({32}))},
           {{"epsilon", attr_f(1e-5f)}}));
  v.push_back(make("LayerNormalization_nobias_3x127", "LayerNormalization", 17,
                   {h(in_f32({3, 127}, -2, 6)), h(const_f32({127}, 0.5, 1.5)), omitted()}));
  // Reductions: the mean/variance of a manual layer norm, pooling means, max.
  v.push_back(make("ReduceMean_last_2x13x33", "ReduceMean", 13, {h(in_f32({2, 13, 33}))},
                   {{"axes", attr_ints({-1})}}));
  v.push_back(make("ReduceSum_axes_3x5x7", "ReduceSum", 13,
                   {h(in_f32({3, 5, 7})), const_i64({0, 2})}, {{"keepdims", attr_i(0)}}));
  v.push_back(make("ReduceMax_all_127", "ReduceMax", 13, {h(in_f32({127}, -100, 100))}));
  v.push_back(
      make("ReduceL2_1x13", "ReduceL2", 13, {h(in_f32({1, 13}))}, {{"axes", attr_ints({1})}}));
  // Casts at the boundaries of a converted graph and inside it (ids, masks; integer inputs over
  // 4096 elements, else the executor keeps them on the host as shape arithmetic).
  struct C {
    const char* tag;
    InputSpec x;
    int64_t to;
  };
  const std::vector<C> casts = {
      {"f32_to_f16_13", in_f32({13}, -100, 100), 10},
      {"f16_to_f32_127", h(in_f32({127}, -100, 100)), 1},
      {"i64_to_f16_4099", in_i64({4099}, -2048, 2048), 10},
      {"f16_to_i64_13", h(in_f32({13}, -300, 300)), 7},
      {"bool_to_f16_4099", in_bool({4099}), 10},
      {"f16_to_f16_1", h(in_f32({1})), 10},
  };
  for (const C& c : casts)
    v.push_back(make(std::string("Cast_") + c.tag, "Cast", 13, {c.x}, {{"to", attr_i(c.to)}}));
  // Gelu (opset 20) in both approximations.
  v.push_back(make("Gelu_2x13", "Gelu", 20, {h(in_f32({2, 13}, -4, 4))}));
  v.push_back(make("Gelu_tanh_127", "Gelu", 20, {h(in_f32({127}, -4, 4))},
                   {{"approximate", attr_s("tanh")}}));
  // IsNaN / IsInf on float16 specials.
  InputSpec sp = h(in_f32({9}));
  sp.values = {0.0, -0.0, 1.0, 65504.0, -65504.0, INFINITY, -INFINITY, NAN, 5.9604644775390625e-08};
  v.push_back(make("IsNaN_specials", "IsNaN", 13, {sp}));
  v.push_back(make("IsInf_specials", "IsInf", 10, {sp}));
  v.push_back(make("IsInf_negative_only", "IsInf", 10, {sp}, {{"detect_positive", attr_i(0)}}));
  return v;
}

// Cases only Vulkan runs on the device (OpenCL refuses them, so they stay out of fp16_cases()
// and all_op_cases()); tests/unit/float16_pass_test.cpp runs them.
std::vector<OpCase> fp16_vulkan_cases() {
  std::vector<OpCase> v;
  // onnxruntime's LayerNormalization below opset 17 (the level-2 fusion writes it), float16 and
  // float32.
  v.push_back(make("LayerNormalization_opset14_2x13x16", "LayerNormalization", 14,
                   {h(in_f32({2, 13, 16})), h(const_f32({16}, 0.5, 1.5)), h(const_f32({16}))}));
  OpCase f = make("LayerNormalization_opset14_f32_3x127", "LayerNormalization", 14,
                  {in_f32({3, 127}), const_f32({127}, 0.5, 1.5), omitted()});
  f.rtol = f.atol = 1e-5;
  v.push_back(f);
  return v;
}

}  // namespace kiln::testing
