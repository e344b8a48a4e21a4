// Tests the fast CPU path of com.microsoft Attention / MultiHeadAttention (SGEMM scores, mask and
// bias, vec_softmax_row, SGEMM P V; runtime/cpu/ops/contrib_attention.cpp) against its reference
// loops (set_elementwise_fast_for_testing(false)) on odd sizes (S, T in 1, 7, 127; head sizes
// 16, 64, 80), masks, causal attention, past state, attention_bias broadcasts and the qk output,
// and checks that the fast path gives bit-identical results for 1, 2 and 3 threads.
//
// Tolerance: |fast - ref| <= 2e-5 * (1 + |ref|). The SGEMM reorders the dot products' sums and
// vec_softmax_row is within a few ulp of std::exp, so results differ by a few float ulps of the
// scores (|score| < 10 here), which the softmax turns into relative errors of about 1e-6.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/cpu/executor.h"
#include "runtime/cpu/fast/vec_math.h"
#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

constexpr double kTol = 2e-5;

// Runs one com.microsoft node on the CPU executor.
Expected<std::vector<Tensor>> run_ms(const std::string& op, const std::vector<Tensor>& inputs,
                                     const AttrMap& attrs, int n_outputs, int threads) {
  ir::Graph g;
  g.opsets()[""] = 17;
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
  auto node = g.add_node(op, "com.microsoft", ins, outs, kNodeName);
  if (!node) return node.status();
  for (const auto& [k, a] : attrs) (*node)->set_attr(k, a);
  for (ir::Value* v : outs) g.add_output(v);
  cpu::Executor ex(g, threads);
  return ex.run(feeds);
}

// Deterministic values in [-scale, scale).
Tensor rnd(const Shape& s, uint32_t seed, float scale = 1.0f) {
  Tensor t = Tensor::create(DType::kFloat32, s).value();
  uint32_t x = seed * 2654435761u + 12345u;
  for (int64_t i = 0; i < t.numel(); ++i) {
    x = x * 1664525u + 1013904223u;
    t.data<float>()[i] = scale * (static_cast<float>(x >> 8) / 8388608.0f - 1.0f);
  }
  return t;
}

struct RestoreFast {
  ~RestoreFast() { fast::set_elementwise_fast_for_testing(true); }
};

// Runs the node with the reference loops and with the fast path and compares every output.
void compare(const std::string& op, const std::vector<Tensor>& in, const AttrMap& attrs,
             int n_outputs, const std::string& what, int threads = 2) {
  SCOPED_TRACE(what);
  RestoreFast restore;
  fast::set_elementwise_fast_for_testing(false);
  auto ref = run_ms(op, in, attrs, n_outputs, threads);
  fast::set_elementwise_fast_for_testing(true);
  auto got = run_ms(op, in, attrs, n_outputs, threads);
  ASSERT_TRUE(ref.has_value()) << ref.status().to_string();
  ASSERT_TRUE(got.has_value()) << got.status().to_string();
  ASSERT_EQ(ref->size(), got->size());
  for (size_t o = 0; o < ref->size(); ++o) {
    const Tensor& r = (*ref)[o];
    const Tensor& g = (*got)[o];
    if (!r.defined()) continue;
    ASSERT_EQ(r.shape(), g.shape()) << "output " << o;
    int bad = 0;
    for (int64_t i = 0; i < r.numel() && bad < 5; ++i) {
      const double a = r.get_as_double(i), b = g.get_as_double(i);
      if (!(std::abs(a - b) <= kTol * (1.0 + std::abs(a)))) {
        ++bad;
        ADD_FAILURE() << "output " << o << " element " << i << ": ref " << a << " fast " << b;
      }
    }
  }
}

AttrMap heads_attr(int64_t n, bool causal = false) {
  AttrMap a{{"num_heads", int_attr(n)}};
  if (causal) a["unidirectional"] = int_attr(1);
  return a;
}

TEST(CpuAttentionFast, MultiHeadAttentionOddSizes) {
  uint32_t seed = 1;
  for (int64_t H : {16, 64, 80})
    for (int64_t S : {1, 7, 127})
      for (int64_t L : {1, 7, 127}) {
        if (H == 80 && S == 127 && L == 127) continue;  // keep the test short
        const int64_t B = 2, N = 2;
        const Tensor q = rnd({B, S, N * H}, seed++);
        const Tensor k = rnd({B, L, N * H}, seed++);
        const Tensor v = rnd({B, L, N * H}, seed++);
        compare("MultiHeadAttention", {q, k, v}, heads_attr(N), 1,
                "H " + std::to_string(H) + " S " + std::to_string(S) + " L " + std::to_string(L));
      }
}

TEST(CpuAttentionFast, MultiHeadAttentionMasksBiasPastQk) {
  const int64_t B = 2, N = 3, S = 7, L = 13, P = 5, H = 16, Hv = 24, T = P + L;
  const Tensor q = rnd({B, S, N * H}, 11);
  const Tensor k = rnd({B, L, N * H}, 12);
  const Tensor v = rnd({B, L, N * Hv}, 13);
  const Tensor bias = rnd({2 * N * H + N * Hv}, 14, 0.5f);
  const Tensor pk = rnd({B, N, P, H}, 15);
  const Tensor pv = rnd({B, N, P, Hv}, 16);
  std::vector<int32_t> m(B * T, 1);
  for (int64_t t = 9; t < T; ++t) m[t] = 0;  // batch 0: keys 9.. padded
  m[T + 2] = 0;
  const Tensor mask2 = i32({B, T}, m);
  const Tensor lens = i32v({4, 0});  // batch 1: every key padded
  const Tensor ab_n = rnd({1, N, S, T}, 17, 2.0f);
  const Tensor ab_b = rnd({B, 1, S, T}, 18, 2.0f);
  // Outputs: output, present_key, present_value, qk.
  compare("MultiHeadAttention", {q, k, v, bias, mask2, ab_n, pk, pv}, heads_attr(N), 4,
          "2-D mask, bias [1, N, S, T], past, qk");
  compare("MultiHeadAttention", {q, k, v, bias, lens, ab_b, pk, pv}, heads_attr(N, true), 4,
          "key lengths, bias [B, 1, S, T], causal, past, qk");
  compare("MultiHeadAttention", {q, k, v, Tensor(), Tensor(), Tensor(), pk, pv},
          heads_attr(N, true), 3, "causal with past, no mask");
  // BNSH key / value and packed QKV.
  const Tensor kb = rnd({B, N, L, H}, 19);
  const Tensor vb = rnd({B, N, L, Hv}, 20);
  compare("MultiHeadAttention", {q, kb, vb}, heads_attr(N), 1, "BNSH key / value");
  const Tensor qkv = rnd({B, S, N, 3, H}, 21);
  compare("MultiHeadAttention", {qkv}, heads_attr(N, true), 1, "packed QKV, causal");
}

TEST(CpuAttentionFast, AttentionProjectionMaskPast) {
  const int64_t B = 2, S = 13, hidden = 40, N = 4, P = 3;
  const Tensor x = rnd({B, S, hidden}, 31);
  const Tensor w = rnd({hidden, 3 * hidden}, 32, 0.3f);
  const Tensor bias = rnd({3 * hidden}, 33, 0.2f);
  compare("Attention", {x, w, bias}, heads_attr(N), 1, "plain");
  compare("Attention", {x, w, bias, i32v({13, 5})}, heads_attr(N, true), 1, "lengths, causal");
  const Tensor past = rnd({2, B, N, P, hidden / N}, 34);
  compare("Attention", {x, w, bias, Tensor(), past}, heads_attr(N, true), 2, "past, present");
  // qkv_hidden_sizes with a different V head size and no bias.
  const Tensor w2 = rnd({hidden, 2 * hidden + 24}, 35, 0.3f);
  AttrMap a = heads_attr(N);
  a["qkv_hidden_sizes"] = ints_attr({hidden, hidden, 24});
  compare("Attention", {x, w2}, a, 1, "qkv_hidden_sizes");
  // The BERT shape at seq 1 and 127 (12 heads of 64).
  const Tensor xb = rnd({1, 127, 768}, 36);
  const Tensor wb = rnd({768, 3 * 768}, 37, 0.05f);
  compare("Attention", {xb, wb, rnd({3 * 768}, 38, 0.1f), i32v({100})}, heads_attr(12), 1,
          "BERT shape, seq 127");
  compare("Attention", {rnd({1, 1, 768}, 39), wb}, heads_attr(12), 1, "BERT shape, seq 1");
}

// S * T above the fast path's scratch limit (2^20 floats): query rows go in blocks (1017 + 13).
TEST(CpuAttentionFast, LongSequencesInRowBlocks) {
  const int64_t B = 1, N = 2, S = 1030, L = 1031, H = 16;
  const Tensor q = rnd({B, S, N * H}, 51);
  const Tensor k = rnd({B, L, N * H}, 52);
  const Tensor v = rnd({B, L, N * H}, 53);
  compare("MultiHeadAttention", {q, k, v, Tensor(), i32v({1000})}, heads_attr(N, true), 4,
          "S 1030, T 1031, key lengths, causal, qk");
}

// The fast path gives the same bits for any thread count, both when the (batch, head) pairs are
// shared out (B * N >= threads) and when the SGEMM shares out its tiles (B * N < threads).
TEST(CpuAttentionFast, ThreadCountIndependent) {
  for (int64_t N : {1, 6}) {
    const int64_t B = 1, S = 37, L = 29, H = 20;
    const Tensor q = rnd({B, S, N * H}, 41);
    const Tensor k = rnd({B, L, N * H}, 42);
    const Tensor v = rnd({B, L, N * H}, 43);
    const Tensor lens = i32v({20});
    const std::vector<Tensor> in{q, k, v, Tensor(), lens};
    const Tensor one = ok1(run_ms("MultiHeadAttention", in, heads_attr(N, true), 1, 1));
    for (int threads : {2, 3}) {
      const Tensor many = ok1(run_ms("MultiHeadAttention", in, heads_attr(N, true), 1, threads));
      ASSERT_EQ(one.numel(), many.numel());
      for (int64_t i = 0; i < one.numel(); ++i)
        ASSERT_EQ(one.data<float>()[i], many.data<float>()[i])
            << "N " << N << " threads " << threads << " element " << i;
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
