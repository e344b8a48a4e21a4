// Unit tests for the ONNX Runtime contrib kernels (runtime/cpu/ops/contrib*.cpp): small
// hand-computed cases for each op (activations, skip / simplified / embed layer norms,
// FusedMatMul transposes, the integer matmuls, Attention and MultiHeadAttention with their mask
// forms and past state), the errors hostile models must produce, and thread-count independence.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/cpu/executor.h"
#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

// Runs one node of `domain` (com.microsoft opset 1, default domain opset `opset`).
Expected<std::vector<Tensor>> run_ms(const std::string& op, const std::vector<Tensor>& inputs,
                                     const AttrMap& attrs = {}, int n_outputs = 1, int threads = 2,
                                     const std::string& domain = "com.microsoft", int opset = 17) {
  ir::Graph g;
  g.opsets()[""] = opset;
  g.opsets()["com.microsoft"] = 1;
  std::vector<ir::Value*> ins, outs;
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      ins.push_back(nullptr);
      continue;
    }
    const std::string name = "in" + std::to_string(i);
    ir::Value* v = *g.add_value(name, ir::ValueInfo{inputs[i].dtype(), false, {}});
    g.add_input(v);
    feeds[name] = inputs[i];
    ins.push_back(v);
  }
  for (int i = 0; i < n_outputs; ++i) outs.push_back(*g.add_value("out" + std::to_string(i)));
  auto node = g.add_node(op, domain, ins, outs, kNodeName);
  if (!node) return node.status();
  for (const auto& [k, a] : attrs) (*node)->set_attr(k, a);
  for (ir::Value* v : outs) g.add_output(v);
  cpu::Executor ex(g, threads);
  return ex.run(feeds);
}

void expect_near(const Tensor& t, const std::vector<double>& want, double tol = 1e-5) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size()));
  for (int64_t i = 0; i < t.numel(); ++i)
    EXPECT_NEAR(t.get_as_double(i), want[i], tol) << "element " << i;
}

Tensor f16(const Shape& s, const std::vector<float>& v) {
  Tensor t = Tensor::create(DType::kFloat16, s).value();
  for (size_t i = 0; i < v.size(); ++i) t.data<Half>()[i] = Half(v[i]);
  return t;
}

// ---- activations --------------------------------------------------------------------------------

TEST(CpuContrib, GeluFamily) {
  const Tensor x = f32({1, 3}, {0, 1, -1});
  expect_near(ok1(run_ms("Gelu", {x})), {0, 0.8413447461, -0.1586552539});
  // BiasGelu: Gelu(x + b) with b over the last dim.
  expect_near(ok1(run_ms("BiasGelu", {x, f32v({1, 0, 2})})),
              {0.8413447461, 0.8413447461, 0.8413447461});
  // FastGelu: tanh form; gelu_tanh(1) = 0.5 (1 + tanh(0.7978845608 * 1.044715)).
  expect_near(ok1(run_ms("FastGelu", {x})), {0, 0.8411919906, -0.1588080094});
  expect_near(ok1(run_ms("FastGelu", {x, f32v({1, 0, 2})})),
              {0.8411919906, 0.8411919906, 0.8411919906});
  // QuickGelu: x sigmoid(alpha x).
  expect_near(ok1(run_ms("QuickGelu", {f32v({0, 2})}, {{"alpha", float_attr(1.0f)}})),
              {0, 1.7615941560});
  expect_near(ok1(run_ms("QuickGelu", {f32v({1})})), {1.0 / (1.0 + std::exp(-1.702))});
  // float16 in, float16 out, computed in float.
  const Tensor y = ok1(run_ms("Gelu", {f16({2}, {1, -1})}));
  EXPECT_EQ(y.dtype(), DType::kFloat16);
  expect_near(y, {0.8413447461, -0.1586552539}, 1e-3);
}

TEST(CpuContrib, BiasAdd) {
  const Tensor x = f32({1, 2, 2}, {1, 2, 3, 4});
  expect_result(run_ms("BiasAdd", {x, f32v({10, 20}), f32({1, 2, 2}, {100, 200, 300, 400})}),
                {1, 2, 2}, {111, 222, 313, 424});
  expect_error(run_ms("BiasAdd", {x, f32v({10, 20, 30}), x}), "bias");
  expect_error(run_ms("BiasAdd", {f32({4}, {1, 2, 3, 4}), f32v({1, 2, 3, 4}), f32({4}, {})}),
               "3-D");
}

// ---- layer norms
// ---------------------------------------------------------------------------------

TEST(CpuContrib, SkipLayerNormalization) {
  const Tensor x = f32({1, 2, 2}, {1, 3, 0, 4});
  const Tensor skip = f32({1, 2, 2}, {0, 0, 2, -2});
  const Tensor gamma = f32v({1, 2}), beta = f32v({0, 1}), bias = f32v({1, 1});
  // Rows (with bias): [2, 4] -> [-1, 1]; [3, 3] -> [0, 0]. Output = n * gamma + beta.
  auto r = run_ms("SkipLayerNormalization", {x, skip, gamma, beta, bias}, {}, 4);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_near((*r)[0], {-1, 3, 0, 1});
  expect_near((*r)[1], {3, 3});         // mean
  expect_near((*r)[2], {1, 1e6}, 0.1);  // 1 / sqrt(var + 1e-12)
  expect_near((*r)[3], {2, 4, 3, 3});   // input + skip + bias
  // skip broadcast as [S, H]; no beta, no bias.
  expect_near(ok1(run_ms("SkipLayerNormalization",
                         {f32({2, 1, 2}, {1, 3, 5, 1}), f32({1, 2}, {0, 0}), gamma})),
              {-1, 2, 1, -2});
  // SkipSimplified: x / rms(x) * gamma; [3, 4] -> rms sqrt(12.5).
  const double rms = std::sqrt(12.5);
  expect_near(ok1(run_ms("SkipSimplifiedLayerNormalization",
                         {f32({1, 2}, {3, 4}), f32({1, 2}, {0, 0}), f32v({1, 2})})),
              {3 / rms, 8 / rms});
  expect_error(run_ms("SkipLayerNormalization", {x, skip, f32v({1, 2, 3})}), "gamma");
  expect_error(run_ms("SkipLayerNormalization", {x, f32({3, 2}, {}), gamma}), "skip");
  expect_error(run_ms("SkipLayerNormalization", {f32({4}, {}), f32({4}, {}), f32v({1, 1, 1, 1})}),
               "2-D or 3-D");
}

TEST(CpuContrib, DefaultDomainNorms) {
  const double rms = std::sqrt(12.5);
  // SimplifiedLayerNormalization is registered in the default domain (any opset).
  auto r =
      run_ms("SimplifiedLayerNormalization", {f32({1, 2}, {3, 4}), f32v({1, 2})}, {}, 2, 2, "", 13);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_near((*r)[0], {3 / rms, 8 / rms});
  expect_near((*r)[1], {1 / rms});
  expect_error(run_ms("SimplifiedLayerNormalization", {f32({1, 2}, {3, 4}), f32v({1, 2, 3})}, {}, 1,
                      2, "", 13),
               "scale");
  // LayerNormalization below opset 17 (ONNX Runtime's contrib registration).
  expect_near(ok1(run_ms("LayerNormalization", {f32({1, 2}, {1, 3}), f32v({1, 1}), f32v({0, 0})},
                         {}, 1, 2, "", 13)),
              {-1, 1}, 1e-4);
}

TEST(CpuContrib, EmbedLayerNormalization) {
  const Tensor ids = i32({1, 2}, {0, 1});
  const Tensor word = f32({2, 2}, {1, 3, 0, 0});
  const Tensor pos = f32({2, 2}, {0, 0, 2, 0});
  const Tensor gamma = f32v({1, 1}), beta = f32v({0, 0});
  const Tensor mask = i32({1, 2}, {1, 0});
  auto r = run_ms("EmbedLayerNormalization",
                  {ids, Tensor(), word, pos, Tensor(), gamma, beta, mask}, {}, 3);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_near((*r)[0], {-1, 1, 1, -1});
  expect_result(r, DType::kInt32, {1}, {1}, 1);
  expect_near((*r)[2], {1, 3, 2, 0});
  // Segment embedding and explicit position ids (reversed).
  const Tensor seg_ids = i32({1, 2}, {1, 0});
  const Tensor seg = f32({2, 2}, {0, 0, 0, 10});
  const Tensor pos_ids = i32({1, 2}, {1, 0});
  auto r2 = run_ms("EmbedLayerNormalization",
                   {ids, seg_ids, word, pos, seg, gamma, beta, Tensor(), pos_ids}, {}, 3);
  ASSERT_TRUE(r2.has_value()) << r2.status().to_string();
  expect_near((*r2)[2], {3, 13, 0, 0});
  expect_result(r2, DType::kInt32, {1}, {0}, 1);  // no mask: zeros
  // Ids out of range: a runtime error naming the node.
  expect_error(run_ms("EmbedLayerNormalization",
                      {i32({1, 2}, {0, 2}), Tensor(), word, pos, Tensor(), gamma, beta}),
               "out of range", StatusCode::kRuntimeError);
  expect_error(run_ms("EmbedLayerNormalization",
                      {i32({1, 2}, {-1, 0}), Tensor(), word, pos, Tensor(), gamma, beta}),
               "out of range", StatusCode::kRuntimeError);
  expect_error(run_ms("EmbedLayerNormalization",
                      {i32({1, 3}, {0, 0, 0}), Tensor(), word, pos, Tensor(), gamma, beta}),
               "position", StatusCode::kRuntimeError);
  expect_error(run_ms("EmbedLayerNormalization", {ids, seg_ids, word, pos, Tensor(), gamma, beta}),
               "segment");
}

// ---- matmuls
// -------------------------------------------------------------------------------------

TEST(CpuContrib, FusedMatMul) {
  const Tensor a = f32({2, 2}, {1, 2, 3, 4});
  const Tensor b = f32({2, 2}, {5, 6, 7, 8});
  // 2 * A B^T = 2 * [[17, 23], [39, 53]].
  expect_result(run_ms("FusedMatMul", {a, b}, {{"alpha", float_attr(2)}, {"transB", int_attr(1)}}),
                {2, 2}, {34, 46, 78, 106});
  // A^T B = [[26, 30], [38, 44]].
  expect_result(run_ms("FusedMatMul", {a, b}, {{"transA", int_attr(1)}}), {2, 2}, {26, 30, 38, 44});
  // transBatchA: A [M=2, batch=2, K=1] is read as [2, 2, 1] with A'[b, m] = A[m, b].
  expect_result(run_ms("FusedMatMul", {f32({2, 2, 1}, {1, 2, 3, 4}), f32({2, 1, 1}, {10, 100})},
                       {{"transBatchA", int_attr(1)}}),
                {2, 2, 1}, {10, 30, 200, 400});
  expect_error(run_ms("FusedMatMul", {a, b}, {{"transBatchA", int_attr(1)}}), "rank");
  expect_error(run_ms("FusedMatMul", {a, f32({3, 2}, {})}), "");
}

TEST(CpuContrib, FusedGemm) {
  const Tensor a = f32({2, 2}, {1, 2, 3, 4});
  const Tensor b = f32({2, 2}, {1, 0, 0, -1});
  // A B = [[1, -2], [3, -4]]; + C [10, 0] (broadcast over rows); Relu.
  expect_result(run_ms("FusedGemm", {a, b, f32v({10, 0})}, {{"activation", str_attr("Relu")}}),
                {2, 2}, {11, 0, 13, 0});
  // LeakyRelu 0.5 with alpha 2, no C: [[2, -4], [6, -8]] -> [[2, -2], [6, -4]].
  expect_result(run_ms("FusedGemm", {a, b},
                       {{"activation", str_attr("LeakyRelu")},
                        {"activation_alpha", float_attr(0.5f)},
                        {"alpha", float_attr(2)}}),
                {2, 2}, {2, -2, 6, -4});
  expect_error(run_ms("FusedGemm", {a, b}, {{"activation", str_attr("Softsign")}}), "activation",
               StatusCode::kUnsupported);
  expect_error(run_ms("FusedGemm", {a, b, f32v({1, 2, 3})}, {{"activation", str_attr("Relu")}}),
               "C of shape");
  expect_error(run_ms("FusedGemm", {a, f32({3, 2}, {})}), "inner");
}

TEST(CpuContrib, QuantizedMatMuls) {
  // (A - 1) B * 0.5 * 2 + 1 = (2 * 1 + 3 * 2) + 1.
  expect_result(run_ms("MatMulIntegerToFloat",
                       {u8({1, 2}, {3, 4}), u8({2, 1}, {1, 2}), Tensor::scalar<float>(0.5f),
                        Tensor::scalar<float>(2), Tensor::scalar<uint8_t>(1), Tensor(), f32v({1})}),
                DType::kFloat32, {1, 1}, {9});
  // Per-column b scale and zero point, int8 B.
  expect_result(run_ms("MatMulIntegerToFloat",
                       {u8({1, 2}, {1, 2}), s8({2, 2}, {1, -1, 2, 3}), Tensor::scalar<float>(1),
                        f32v({1, 10}), Tensor(), s8({2}, {0, 1})}),
                DType::kFloat32, {1, 2}, {5, 10 * (1 * -2 + 2 * 2)});
  // DynamicQuantizeMatMul: A [0, 2.55] -> scale 0.01, zp 0, q [0, 255]; B int8 [1, 2].
  auto r = run_ms("DynamicQuantizeMatMul",
                  {f32({1, 2}, {0, 2.55f}), s8({2, 1}, {1, 2}), Tensor::scalar<float>(1)});
  expect_near(ok1(r), {5.1}, 1e-5);
  // All-zero A: scale 1, zero output.
  expect_near(
      ok1(run_ms("DynamicQuantizeMatMul", {f32({1, 2}, {0, 0}), s8({2, 1}, {1, 2}),
                                           Tensor::scalar<float>(1), Tensor(), f32v({0.5f})})),
      {0.5});
  expect_error(run_ms("MatMulIntegerToFloat", {u8({1, 2}, {3, 4}), u8({2, 1}, {1, 2}),
                                               Tensor::scalar<float>(0.5f), f32v({1, 2, 3})}),
               "b_scale");
  expect_error(run_ms("DynamicQuantizeMatMul", {f32({1, 2}, {0, 1}), s8({2, 1}, {1, 2}),
                                                Tensor::scalar<float>(1), Tensor(), f32v({1, 2})}),
               "bias");
}

// ---- attention
// ------------------------------------------------------------------------------------

// Q = K = V = x for x = [[1, 0], [0, 1]] (B 1, S 2, hidden 2, 1 head): weights [I I I].
const Tensor kX = f32({1, 2, 2}, {1, 0, 0, 1});
const Tensor kW = f32({2, 6}, {1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1});
const Tensor kBias = f32v({0, 0, 0, 0, 0, 0});
// softmax([1 / sqrt(2), 0]).
const double kHi = 1.0 / (1.0 + std::exp(-1.0 / std::sqrt(2.0))), kLo = 1.0 - kHi;

TEST(CpuContrib, AttentionMasks) {
  const AttrMap heads{{"num_heads", int_attr(1)}};
  expect_near(ok1(run_ms("Attention", {kX, kW, kBias}, heads)), {kHi, kLo, kLo, kHi});
  // Causal: query 0 sees key 0 only.
  AttrMap causal = heads;
  causal["unidirectional"] = int_attr(1);
  expect_near(ok1(run_ms("Attention", {kX, kW, kBias}, causal)), {1, 0, kLo, kHi});
  // 1-D key lengths [1]: only key 0.
  const std::vector<double> key0{1, 0, 1, 0};
  expect_near(ok1(run_ms("Attention", {kX, kW, kBias, i32v({1})}, heads)), key0);
  // 1-D with start positions [end 2, start 1]: only key 1.
  expect_near(ok1(run_ms("Attention", {kX, kW, kBias, i32v({2, 1})}, heads)), {0, 1, 0, 1});
  // 2-D [batch, total] 0/1 mask, 3-D [batch, S, T], 4-D [batch, 1, M, M].
  expect_near(ok1(run_ms("Attention", {kX, kW, kBias, i32({1, 2}, {1, 0})}, heads)), key0);
  expect_near(ok1(run_ms("Attention", {kX, kW, kBias, i32({1, 2, 2}, {1, 0, 0, 1})}, heads)),
              {1, 0, 0, 1});
  expect_near(ok1(run_ms("Attention",
                         {kX, kW, kBias, i32({1, 1, 3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 0})}, heads)),
              {1, 0, 0, 1});
  // Out-of-range key lengths are clamped, not read out of bounds: every key gets the same
  // filter value, which the softmax cancels (up to float rounding of -10000 + score).
  expect_near(ok1(run_ms("Attention", {kX, kW, kBias, i32v({-5})}, heads)), {kHi, kLo, kLo, kHi},
              1e-3);
  // Errors.
  expect_error(run_ms("Attention", {kX, kW, kBias, i32({1, 3}, {1, 1, 1})}, heads), "mask");
  expect_error(run_ms("Attention", {kX, kW, kBias}, {{"num_heads", int_attr(3)}}), "divisible");
  expect_error(run_ms("Attention", {kX, kW, kBias}), "num_heads");
  expect_error(run_ms("Attention", {kX, kW, f32v({1, 2})}, heads), "bias");
  expect_error(run_ms("Attention", {kX, f32({3, 6}, {}), kBias}, heads), "weights");
  expect_error(run_ms("Attention", {kX, kW, kBias},
                      {{"num_heads", int_attr(1)}, {"qkv_hidden_sizes", ints_attr({2, 4, 0})}}),
               "qkv_hidden_sizes");
}

TEST(CpuContrib, AttentionPastPresent) {
  const AttrMap heads{{"num_heads", int_attr(1)}};
  // Past holds key/value [1, 0]; the new token x = [0, 1]: keys [1,0], [0,1]; query [0, 1].
  const Tensor past = f32({2, 1, 1, 1, 2}, {1, 0, 1, 0});
  auto r = run_ms("Attention", {f32({1, 1, 2}, {0, 1}), kW, kBias, Tensor(), past}, heads, 2);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_near((*r)[0], {kLo, kHi});
  expect_result(r, DType::kFloat32, {2, 1, 1, 2, 2}, {1, 0, 0, 1, 1, 0, 0, 1}, 1);
  expect_error(run_ms("Attention", {kX, kW, kBias, Tensor(), f32({2, 1, 1, 1, 3}, {})}, heads),
               "past");
}

TEST(CpuContrib, MultiHeadAttentionForms) {
  const AttrMap heads{{"num_heads", int_attr(1)}};
  const std::vector<double> full{kHi, kLo, kLo, kHi};
  expect_near(ok1(run_ms("MultiHeadAttention", {kX, kX, kX}, heads)), full);
  // BNSH key / value [1, 1, 2, 2].
  const Tensor kv4 = f32({1, 1, 2, 2}, {1, 0, 0, 1});
  expect_near(ok1(run_ms("MultiHeadAttention", {kX, kv4, kv4}, heads)), full);
  // Packed KV [B, L, N, 2, H] and packed QKV [B, S, N, 3, H].
  expect_near(ok1(run_ms("MultiHeadAttention", {kX, f32({1, 2, 1, 2, 2}, {1, 0, 1, 0, 0, 1, 0, 1})},
                         heads)),
              full);
  expect_near(ok1(run_ms("MultiHeadAttention",
                         {f32({1, 2, 1, 3, 2}, {1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1})}, heads)),
              full);
  // Bias on Q, K, V: V bias 1 on both columns shifts the output by 1.
  expect_near(ok1(run_ms("MultiHeadAttention", {kX, kX, kX, f32v({0, 0, 0, 0, 1, 1})}, heads)),
              {kHi + 1, kLo + 1, kLo + 1, kHi + 1});
  // Key padding mask, causal, past / present.
  expect_near(ok1(run_ms("MultiHeadAttention", {kX, kX, kX, Tensor(), i32({1, 2}, {1, 0})}, heads)),
              {1, 0, 1, 0});
  AttrMap causal = heads;
  causal["unidirectional"] = int_attr(1);
  expect_near(ok1(run_ms("MultiHeadAttention", {kX, kX, kX}, causal)), {1, 0, kLo, kHi});
  const Tensor q1 = f32({1, 1, 2}, {0, 1});
  const Tensor past = f32({1, 1, 1, 2}, {1, 0});
  auto r = run_ms("MultiHeadAttention", {q1, q1, q1, Tensor(), Tensor(), Tensor(), past, past},
                  heads, 3);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  expect_near((*r)[0], {kLo, kHi});
  expect_result(r, DType::kFloat32, {1, 1, 2, 2}, {1, 0, 0, 1}, 1);
  expect_result(r, DType::kFloat32, {1, 1, 2, 2}, {1, 0, 0, 1}, 2);
  // Attention bias [1, 1, S, T]: -10000 on key 1 everywhere.
  expect_near(
      ok1(run_ms("MultiHeadAttention",
                 {kX, kX, kX, Tensor(), Tensor(), f32({1, 1, 2, 2}, {0, -1e4f, 0, -1e4f})}, heads)),
      {1, 0, 1, 0});
  // Errors.
  expect_error(run_ms("MultiHeadAttention", {kX, kX, kX}, {{"num_heads", int_attr(3)}}),
               "divisible");
  expect_error(run_ms("MultiHeadAttention", {kX, f32({1, 2, 4}, {}), kX}, heads), "key");
  expect_error(run_ms("MultiHeadAttention", {kX}, heads), "key");
  expect_error(run_ms("MultiHeadAttention", {kX, kX, kX, Tensor(), i32v({1, 1, 1})}, heads),
               "mask");
  expect_error(run_ms("MultiHeadAttention", {kX, kX, kX, f32v({1})}, heads), "bias");
  expect_error(run_ms("MultiHeadAttention",
                      {
                          f32({1, 2, 2, 3, 1}, {}),
                      },
                      heads),
               "packed");
}

TEST(CpuContrib, AttentionIsThreadCountIndependent) {
  // B 2, S 7, hidden 12, 3 heads, causal with a 2-D mask.
  std::vector<float> xv(2 * 7 * 12), wv(12 * 36), bv(36);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = std::sin(0.37f * static_cast<float>(i));
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = std::cos(0.11f * static_cast<float>(i)) * 0.3f;
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = 0.01f * static_cast<float>(i);
  std::vector<int32_t> mv(14, 1);
  mv[6] = mv[12] = 0;
  const std::vector<Tensor> in{f32({2, 7, 12}, xv), f32({12, 36}, wv), f32v(bv), i32({2, 7}, mv)};
  const AttrMap attrs{{"num_heads", int_attr(3)}, {"unidirectional", int_attr(1)}};
  const Tensor y1 = ok1(run_ms("Attention", in, attrs, 1, 1));
  const Tensor y4 = ok1(run_ms("Attention", in, attrs, 1, 4));
  EXPECT_EQ(values(y1), values(y4));
}

}  // namespace
}  // namespace kiln::cpu
