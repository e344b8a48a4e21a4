// Static INT8 quantization in QOperator format (graph/passes/quantize_static.cpp): calibration
// then QuantizeLinear -> QLinearMatMul / QLinearConv chains with DequantizeLinear only in front
// of float readers. Checks on hand-built graphs: the structure, the parameters by hand (weights
// within half a step of the float weight, the int32 bias round(B / (x_s * w_s)), output
// scale / zero point from the calibrated range), the skipped and refused cases, and the numbers
// against the float graph on the CPU executor (tolerance: max abs error <= 3% of the output's
// max abs value, cosine >= 0.999; 8-bit activations and weights on 13..37-term sums).
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

ir::ValueInfo finfo(const Shape& s) {
  ir::ValueInfo vi{DType::kFloat32, true, {}};
  for (int64_t d : s) vi.dims.push_back(ir::Dim{d, ""});
  return vi;
}

Tensor random_tensor(const Shape& s, unsigned seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return f32(s, v);
}

std::map<std::string, int> histogram(const ir::Graph& g) {
  std::map<std::string, int> h;
  for (const ir::Node* n : g.nodes()) h[n->op_type()]++;
  return h;
}

const Tensor& init(const ir::Graph& /*g*/, const ir::Value* v) {
  static Tensor empty;
  EXPECT_TRUE(v && v->is_initializer());
  return v && v->is_initializer() ? v->initializer() : empty;
}

Tensor run1(const ir::Graph& g, const Tensor& x) {
  cpu::Executor ex(g, 1);
  EXPECT_TRUE(ex.prepare().is_ok());
  auto r = ex.run({{"x", x}});
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  return r.has_value() ? (*r)[0] : Tensor();
}

void expect_close(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  const std::vector<double> a = values(got), b = values(want);
  double maxabs = 0, err = 0, ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    maxabs = std::max(maxabs, std::fabs(b[i]));
    err = std::max(err, std::fabs(a[i] - b[i]));
    ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  }
  EXPECT_LE(err, 0.03 * maxabs);
  EXPECT_GE(ab / std::sqrt(aa * bb + 1e-30), 0.999);
}

// Calibrates g on three random sets of x's shape and quantizes it (QOperator, static).
Status quantize(ir::Graph& g, const Shape& xs, QuantizeOptions o, QuantizeReport* rep) {
  std::vector<std::map<std::string, Tensor>> sets;
  for (unsigned s = 0; s < 3; ++s) sets.push_back({{"x", random_tensor(xs, 100 + s, -2, 2)}});
  o.format = QuantFormat::kQOperator;
  auto ranges = calibrate(g, o, sets, CalibrationMethod::kMinMax);
  if (!ranges) return ranges.status();
  return quantize_static_qoperator(g, o, *ranges, rep);
}

ir::Node* only(const ir::Graph& g, const std::string& op, int index = 0) {
  int k = 0;
  for (ir::Node* n : g.nodes())
    if (n->op_type() == op && k++ == index) return n;
  return nullptr;
}

// x [13, 37] -> MatMul(W1 [37, 9]) -> MatMul(W2 [9, 5]) -> y.
std::unique_ptr<ir::Graph> matmul_chain() {
  auto g = std::make_unique<ir::Graph>();
  g->opsets()[""] = 13;
  ir::Value* x = *g->add_value("x", finfo({13, 37}));
  g->add_input(x);
  ir::Value* w1 = *g->add_initializer("W1", random_tensor({37, 9}, 1, -0.5f, 0.5f));
  ir::Value* w2 = *g->add_initializer("W2", random_tensor({9, 5}, 2, -0.7f, 0.7f));
  ir::Value* h = *g->add_value("h", finfo({13, 9}));
  ir::Value* y = *g->add_value("y", finfo({13, 5}));
  EXPECT_TRUE(g->add_node("MatMul", "", {x, w1}, {h}, "mm1").has_value());
  EXPECT_TRUE(g->add_node("MatMul", "", {h, w2}, {y}, "mm2").has_value());
  g->add_output(y);
  return g;
}

// Every element of the dequantized weight is within half a step of the float weight.
void expect_weight(const Tensor& w, const Tensor& q, const Tensor& s, const Tensor& z, int axis,
                   bool transposed = false) {
  const int64_t r = w.dim(0), inner = w.numel() / r;
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t ch = s.numel() == 1 ? 0 : (axis == 0 ? i / inner : i % w.dim(w.rank() - 1));
    const int64_t at = transposed ? (i % inner) * r + i / inner : i;
    const double scale = s.get_as_double(ch);
    const double dq = (q.get_as_double(at) - z.get_as_double(ch)) * scale;
    ASSERT_LE(std::fabs(dq - w.data<float>()[i]), scale * 0.5 + 1e-6) << i;
  }
}

TEST(QuantizeStaticQOperator, MatMulChainStaysQuantized) {
  for (bool pc : {false, true}) {
    auto g = matmul_chain();
    auto f = matmul_chain();
    const Tensor w1 = f->find_value("W1")->initializer();
    QuantizeOptions o;
    o.per_channel = pc;
    QuantizeReport rep;
    ASSERT_TRUE(quantize(*g, {13, 37}, o, &rep).is_ok());
    ASSERT_TRUE(g->verify().is_ok());
    auto h = histogram(*g);
    EXPECT_EQ(h["QuantizeLinear"], 1);
    EXPECT_EQ(h["QLinearMatMul"], 2);
    EXPECT_EQ(h["DequantizeLinear"], 1);  // y only: h goes from one QLinearMatMul to the next
    EXPECT_EQ(h["MatMul"], 0);
    EXPECT_EQ(rep.quantized["MatMul"], 2);
    EXPECT_EQ(rep.activations_quantized, 1);
    ir::Node* q1 = only(*g, "QLinearMatMul", 0);
    ir::Node* q2 = only(*g, "QLinearMatMul", 1);
    ASSERT_TRUE(q1 && q2);
    if (q2->input(0) != q1->output(0)) std::swap(q1, q2);
    EXPECT_EQ(q2->input(0), q1->output(0));
    // q2's input parameters are q1's output parameters.
    EXPECT_EQ(q2->input(1), q1->input(6));
    EXPECT_EQ(q2->input(2), q1->input(7));
    EXPECT_EQ(init(*g, q1->input(3)).dtype(), DType::kInt8);
    EXPECT_EQ(init(*g, q1->input(4)).numel(), pc ? 9 : 1);
    expect_weight(w1, init(*g, q1->input(3)), init(*g, q1->input(4)), init(*g, q1->input(5)), 1);
    // Output parameters from h's calibrated range.
    std::vector<std::map<std::string, Tensor>> sets;
    for (unsigned s = 0; s < 3; ++s)
      sets.push_back({{"x", random_tensor({13, 37}, 100 + s, -2, 2)}});
    QuantizeOptions qo;
    auto r = calibrate(*f, qo, sets, CalibrationMethod::kMinMax);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->count("h"), 1u);
    const QuantParams p = compute_quant_params(r->at("h").min, r->at("h").max, 0, 255, false);
    EXPECT_EQ(init(*g, q1->input(6)).data<float>()[0], p.scale);
    EXPECT_EQ(init(*g, q1->input(7)).get_as_double(0), p.zero_point);
    const Tensor x = random_tensor({13, 37}, 7, -2, 2);
    expect_close(run1(*g, x), run1(*f, x));
  }
}

// x [1, 3, 9, 11] -> Conv(W [4, 3, 3, 3], B, pads 1) -> Relu -> Conv(W2 [5, 4, 1, 1]) -> y.
std::unique_ptr<ir::Graph> conv_graph() {
  auto g = std::make_unique<ir::Graph>();
  g->opsets()[""] = 13;
  ir::Value* x = *g->add_value("x", finfo({1, 3, 9, 11}));
  g->add_input(x);
  ir::Value* w = *g->add_initializer("W", random_tensor({4, 3, 3, 3}, 3, -0.4f, 0.4f));
  ir::Value* b = *g->add_initializer("B", random_tensor({4}, 4, -0.3f, 0.3f));
  ir::Value* w2 = *g->add_initializer("W2", random_tensor({5, 4, 1, 1}, 5, -0.6f, 0.6f));
  ir::Value* c = *g->add_value("c", finfo({1, 4, 9, 11}));
  ir::Value* r = *g->add_value("r", finfo({1, 4, 9, 11}));
  ir::Value* y = *g->add_value("y", finfo({1, 5, 9, 11}));
  ir::Node* c1 = *g->add_node("Conv", "", {x, w, b}, {c}, "conv1");
  c1->set_attr("pads", ints_attr({1, 1, 1, 1}));
  EXPECT_TRUE(g->add_node("Relu", "", {c}, {r}, "relu").has_value());
  EXPECT_TRUE(g->add_node("Conv", "", {r, w2}, {y}, "conv2").has_value());
  g->add_output(y);
  return g;
}

TEST(QuantizeStaticQOperator, ConvWithInt32BiasPerTensorAndPerChannel) {
  for (bool pc : {false, true}) {
    auto g = conv_graph();
    auto f = conv_graph();
    QuantizeOptions o;
    o.per_channel = pc;
    QuantizeReport rep;
    ASSERT_TRUE(quantize(*g, {1, 3, 9, 11}, o, &rep).is_ok());
    ASSERT_TRUE(g->verify().is_ok());
    auto h = histogram(*g);
    EXPECT_EQ(h["QLinearConv"], 2);
    EXPECT_EQ(h["Conv"], 0);
    EXPECT_EQ(h["Relu"], 1);  // a float reader: DequantizeLinear -> Relu -> QuantizeLinear
    EXPECT_EQ(h["QuantizeLinear"], 2);
    EXPECT_EQ(h["DequantizeLinear"], 2);
    ir::Node* q1 = nullptr;
    for (ir::Node* n : g->nodes())
      if (n->op_type() == "QLinearConv" && n->inputs().size() == 9) q1 = n;
    ASSERT_NE(q1, nullptr);
    EXPECT_EQ(q1->attr("pads")->ints, (std::vector<int64_t>{1, 1, 1, 1}));
    const Tensor& ws = init(*g, q1->input(4));
    EXPECT_EQ(ws.numel(), pc ? 4 : 1);
    expect_weight(f->find_value("W")->initializer(), init(*g, q1->input(3)), ws,
                  init(*g, q1->input(5)), 0);
    const float xs = init(*g, q1->input(1)).data<float>()[0];
    const Tensor& bq = init(*g, q1->input(8));
    ASSERT_EQ(bq.dtype(), DType::kInt32);
    const Tensor& b = f->find_value("B")->initializer();
    for (int64_t m = 0; m < 4; ++m) {
      const float s = xs * ws.data<float>()[ws.numel() == 1 ? 0 : m];
      EXPECT_EQ(bq.data<int32_t>()[m],
                static_cast<int32_t>(std::nearbyint(double{b.data<float>()[m]} / s)))
          << m;
    }
    const Tensor x = random_tensor({1, 3, 9, 11}, 8, -2, 2);
    expect_close(run1(*g, x), run1(*f, x));
  }
}

TEST(QuantizeStaticQOperator, GemmWithoutBiasTransBAndGemmWithBiasToQGemm) {
  for (bool with_bias : {false, true}) {
    auto make = [&] {
      auto g = std::make_unique<ir::Graph>();
      g->opsets()[""] = 13;
      ir::Value* x = *g->add_value("x", finfo({3, 17}));
      g->add_input(x);
      // transB: W is [N, K] = [6, 17].
      ir::Value* w = *g->add_initializer("W", random_tensor({6, 17}, 9, -0.5f, 0.5f));
      std::vector<ir::Value*> in = {x, w};
      if (with_bias) in.push_back(*g->add_initializer("C", random_tensor({6}, 10)));
      ir::Value* y = *g->add_value("y", finfo({3, 6}));
      ir::Node* n = *g->add_node("Gemm", "", in, {y}, "gemm");
      n->set_attr("transB", int_attr(1));
      n->set_attr("alpha", float_attr(0.5f));
      g->add_output(y);
      return g;
    };
    auto g = make();
    auto f = make();
    for (bool pc : {false, true}) {
      if (pc) g = make();
      QuantizeOptions o;
      o.per_channel = pc;
      QuantizeReport rep;
      ASSERT_TRUE(quantize(*g, {3, 17}, o, &rep).is_ok());
      auto h = histogram(*g);
      if (with_bias) {
        // com.microsoft QGemm: W as stored ([N, K] with transB kept), scales without alpha,
        // C int32 = round(C / (x_s * W_s[n] * alpha)) (alpha is applied to the sum with C).
        EXPECT_EQ(h["Gemm"], 0);
        EXPECT_EQ(h["QGemm"], 1);
        EXPECT_TRUE(rep.skipped.empty());
        ir::Node* q = only(*g, "QGemm");
        ASSERT_NE(q, nullptr);
        ASSERT_EQ(q->inputs().size(), 9u);
        EXPECT_EQ(q->domain(), "com.microsoft");
        EXPECT_EQ(q->attr("transB")->i, 1);
        EXPECT_FLOAT_EQ(q->attr("alpha")->f, 0.5f);
        const Tensor& wq = init(*g, q->input(3));
        EXPECT_EQ(wq.shape(), (Shape{6, 17}));
        const Tensor& ws = init(*g, q->input(4));
        EXPECT_EQ(ws.numel(), pc ? 6 : 1);
        expect_weight(f->find_value("W")->initializer(), wq, ws, init(*g, q->input(5)), 0);
        const float xs = init(*g, q->input(1)).data<float>()[0];
        const Tensor& cq = init(*g, q->input(6));
        ASSERT_EQ(cq.dtype(), DType::kInt32);
        const Tensor& c = f->find_value("C")->initializer();
        for (int64_t n = 0; n < 6; ++n) {
          const float sc = xs * ws.data<float>()[ws.numel() == 1 ? 0 : n] * 0.5f;
          EXPECT_EQ(cq.data<int32_t>()[n],
                    static_cast<int32_t>(std::nearbyint(double{c.data<float>()[n]} / sc)))
              << n;
        }
        // On a calibration set (seed 100): the output then lies in the calibrated range (with
        // the bias, other inputs' outputs go past it and are clipped by the uint8 output).
        const Tensor x = random_tensor({3, 17}, 100, -2, 2);
        expect_close(run1(*g, x), run1(*f, x));
        continue;
      }
      EXPECT_EQ(h["QLinearMatMul"], 1);
      ir::Node* q = only(*g, "QLinearMatMul");
      ASSERT_NE(q, nullptr);
      const Tensor& wq = init(*g, q->input(3));
      EXPECT_EQ(wq.shape(), (Shape{17, 6}));  // W^T
      // The scales carry alpha: undo it to check the weight.
      Tensor s = init(*g, q->input(4)).clone();
      EXPECT_EQ(s.numel(), pc ? 6 : 1);
      for (int64_t i = 0; i < s.numel(); ++i) s.data<float>()[i] /= 0.5f;
      expect_weight(f->find_value("W")->initializer(), wq, s, init(*g, q->input(5)), 0, true);
      const Tensor x = random_tensor({3, 17}, 11, -2, 2);
      expect_close(run1(*g, x), run1(*f, x));
    }
  }
}

TEST(QuantizeStaticQOperator, RefusedAndSkipped) {
  // Per-channel asymmetric uint8 weights for a Conv: refused (one zero point per channel).
  auto g = conv_graph();
  QuantizeOptions o;
  o.per_channel = true;
  o.weight_type = DType::kUInt8;
  QuantizeReport rep;
  Status st = quantize(*g, {1, 3, 9, 11}, o, &rep);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("QLinearConv"), std::string::npos) << st.message();
  // Per tensor uint8 is fine.
  auto k = conv_graph();
  o.per_channel = false;
  QuantizeReport rep2;
  ASSERT_TRUE(quantize(*k, {1, 3, 9, 11}, o, &rep2).is_ok());
  EXPECT_EQ(rep2.quantized["Conv"], 2);
  // No range for the output: skipped with a message.
  auto m = matmul_chain();
  QuantizeOptions qo;
  qo.format = QuantFormat::kQOperator;
  QuantizeReport rep3;
  ASSERT_TRUE(quantize_static_qoperator(
                  *m, qo, {{"x", TensorRange{-1, 1}}, {"h", TensorRange{-2, 2}}}, &rep3)
                  .is_ok());
  EXPECT_EQ(rep3.quantized["MatMul"], 1);
  ASSERT_EQ(rep3.skipped.size(), 1u);
  EXPECT_NE(rep3.skipped[0].find("no calibrated range for its output 'y'"), std::string::npos)
      << rep3.skipped[0];
  ASSERT_TRUE(m->verify().is_ok());
}

}  // namespace
}  // namespace kiln::passes
