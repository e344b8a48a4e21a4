// Unit tests for the quantization of com.microsoft Attention into DynamicQuantizeLinear +
// QAttention (graph/passes/quantize_dynamic.cpp, after onnxruntime's AttentionQuant): the
// rewritten node's inputs, attributes and weight parameters, the result against the float model,
// and the Attention nodes left in float (with the reason) as onnxruntime leaves them.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "graph/passes/quantize.h"
#include "runtime/cpu/executor.h"
#include "tests/unit/test_util.h"

namespace kiln::passes {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

constexpr int64_t kB = 2, kS = 5, kD = 8, kHeads = 2;

// x [2, 5, 8] (+ mask [2] key lengths) -> Attention(W [8, 24], bias [24]) -> y.
// `extra_attr` / `attention_bias`: variants onnxruntime leaves in float.
std::unique_ptr<ir::Graph> attention_graph(bool with_mask, const std::string& extra_attr = "",
                                           bool attention_bias = false) {
  auto g = std::make_unique<ir::Graph>();
  g->opsets()[""] = 17;
  g->opsets()["com.microsoft"] = 1;
  ir::Value* x = *g->add_value("x", ir::ValueInfo{DType::kFloat32, false, {}});
  g->add_input(x);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> w(kD * 3 * kD), b(3 * kD);
  for (float& v : w) v = u(rng);
  for (float& v : b) v = u(rng);
  ir::Value* wv = *g->add_initializer("W", f32({kD, 3 * kD}, w));
  ir::Value* bv = *g->add_initializer("bias", f32({3 * kD}, b));
  ir::Value* mask = nullptr;
  if (with_mask) {
    mask = *g->add_value("mask", ir::ValueInfo{DType::kInt32, false, {}});
    g->add_input(mask);
  }
  std::vector<ir::Value*> ins = {x, wv, bv, mask};
  if (attention_bias) {
    ir::Value* ab = *g->add_initializer("ab", f32({1, 1, kS, kS}, std::vector<float>(kS * kS)));
    ins.push_back(nullptr);  // past
    ins.push_back(ab);
  }
  ir::Value* y = *g->add_value("y");
  auto n = g->add_node("Attention", "com.microsoft", ins, {y}, "attn");
  EXPECT_TRUE(n.has_value());
  (*n)->set_attr("num_heads", int_attr(kHeads));
  (*n)->set_attr("unidirectional", int_attr(1));
  if (extra_attr == "qkv_hidden_sizes")
    (*n)->set_attr("qkv_hidden_sizes", ints_attr({kD, kD, kD}));
  g->add_output(y);
  return g;
}

std::map<std::string, Tensor> feeds(bool with_mask) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<float> x(kB * kS * kD);
  for (float& v : x) v = u(rng);
  std::map<std::string, Tensor> f = {{"x", f32({kB, kS, kD}, x)}};
  if (with_mask) f["mask"] = i32v({5, 3});
  return f;
}

std::vector<double> run(const ir::Graph& g, bool with_mask) {
  cpu::Executor ex(g, 1);
  auto r = ex.run(feeds(with_mask));
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  return r.has_value() ? values((*r)[0]) : std::vector<double>{};
}

const ir::Node* find_op(const ir::Graph& g, const std::string& op) {
  for (const ir::Node* n : g.nodes())
    if (n->op_type() == op) return n;
  return nullptr;
}

TEST(QuantizeAttention, RewritesIntoQAttention) {
  for (bool per_channel : {false, true}) {
    SCOPED_TRACE(per_channel ? "per channel" : "per tensor");
    auto g = attention_graph(true);
    const std::vector<double> want = run(*g, true);
    QuantizeOptions o;  // the defaults include Attention, as onnxruntime's
    o.per_channel = per_channel;
    QuantizeReport rep;
    ASSERT_TRUE(quantize_dynamic(*g, o, &rep).is_ok());
    ASSERT_TRUE(g->verify().is_ok());
    EXPECT_EQ(rep.quantized["Attention"], 1);
    EXPECT_EQ(rep.activations_quantized, 1);
    EXPECT_EQ(find_op(*g, "Attention"), nullptr);
    const ir::Node* dq = find_op(*g, "DynamicQuantizeLinear");
    const ir::Node* qa = find_op(*g, "QAttention");
    ASSERT_NE(dq, nullptr);
    ASSERT_NE(qa, nullptr);
    EXPECT_EQ(qa->domain(), "com.microsoft");
    // QAttention(input, weight, bias, input_scale, weight_scale, mask_index, input_zero_point,
    // weight_zero_point, past): onnxruntime's order.
    ASSERT_EQ(qa->inputs().size(), 9u);
    EXPECT_EQ(qa->input(0), dq->output(0));
    EXPECT_EQ(qa->input(3), dq->output(1));
    EXPECT_EQ(qa->input(6), dq->output(2));
    EXPECT_EQ(qa->input(2)->name(), "bias");
    EXPECT_EQ(qa->input(5)->name(), "mask");
    EXPECT_EQ(qa->input(8), nullptr);
    ASSERT_TRUE(qa->input(1)->is_initializer());
    const Tensor& wq = qa->input(1)->initializer();
    EXPECT_EQ(wq.dtype(), DType::kInt8);
    EXPECT_EQ(wq.shape(), (Shape{kD, 3 * kD}));
    const Tensor& ws = qa->input(4)->initializer();
    const Tensor& wz = qa->input(7)->initializer();
    EXPECT_EQ(ws.shape(), per_channel ? Shape{3 * kD} : Shape{});
    EXPECT_EQ(wz.dtype(), DType::kInt8);
    for (int64_t i = 0; i < wz.numel(); ++i) EXPECT_EQ(wz.get_as_double(i), 0);  // symmetric
    ASSERT_NE(qa->attr("num_heads"), nullptr);
    EXPECT_EQ(qa->attr("num_heads")->i, kHeads);
    ASSERT_NE(qa->attr("unidirectional"), nullptr);
    EXPECT_EQ(qa->attr("unidirectional")->i, 1);
    EXPECT_EQ(qa->output(0)->name(), "y");
    // Quantized vs float: inputs of magnitude 2 quantized with scale 4/255 and weights of 0.5
    // with scale 0.5/127 move the projection by ~1e-2 at most; the attention output follows.
    const std::vector<double> got = run(*g, true);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.05) << i;
  }
}

TEST(QuantizeAttention, LeftInFloatWhereOnnxRuntimeDoes) {
  struct Variant {
    std::string attr;
    bool attention_bias;
    QuantFormat format;
    std::string reason;
  };
  const std::vector<Variant> variants = {
      {"qkv_hidden_sizes", false, QuantFormat::kQOperator, "qkv_hidden_sizes"},
      {"", true, QuantFormat::kQOperator, "input 5"},
      {"", false, QuantFormat::kQDQ, "no QDQ form"},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.reason);
    auto g = attention_graph(false, v.attr, v.attention_bias);
    QuantizeOptions o;
    o.format = v.format;
    QuantizeReport rep;
    ASSERT_TRUE(quantize_dynamic(*g, o, &rep).is_ok());
    EXPECT_EQ(rep.total_quantized(), 0);
    EXPECT_NE(find_op(*g, "Attention"), nullptr);
    EXPECT_EQ(find_op(*g, "QAttention"), nullptr);
    ASSERT_EQ(rep.skipped.size(), 1u);
    EXPECT_NE(rep.skipped[0].find("node 'attn'"), std::string::npos) << rep.skipped[0];
    EXPECT_NE(rep.skipped[0].find(v.reason), std::string::npos) << rep.skipped[0];
  }
  // Not among the op types: untouched, nothing reported.
  auto g = attention_graph(false);
  QuantizeOptions o;
  o.op_types = {"MatMul"};
  QuantizeReport rep;
  ASSERT_TRUE(quantize_dynamic(*g, o, &rep).is_ok());
  EXPECT_NE(find_op(*g, "Attention"), nullptr);
  EXPECT_TRUE(rep.skipped.empty());
}

}  // namespace
}  // namespace kiln::passes
