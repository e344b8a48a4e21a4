// Unit tests for the INT8 quantization passes (graph/passes/quantize.h): quantization parameters
// by hand, weights per tensor and per channel, int8 / uint8, the QOperator and QDQ rewrites,
// calibration, excluded nodes and op types, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "graph/passes/quantize.h"
#include "runtime/cpu/executor.h"
#include "tests/unit/test_util.h"

namespace kiln::passes {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

ir::ValueInfo float_info(const Shape& s) {
  ir::ValueInfo vi{DType::kFloat32, true, {}};
  for (int64_t d : s) vi.dims.push_back(ir::Dim{d, ""});
  return vi;
}

// W: 3 x 2. Column 0 has |max| 127/64 (scale 1/64 symmetric int8), column 1 127/128.
// Values chosen so that w / scale is exact in float (halves included).
const std::vector<float> kW = {1.984375f,   -0.9921875f,   // 127/64, -127/128
                               0.5f,        0.2578125f,    // 32/64, 33/128
                               -0.0234375f, 0.01171875f};  // -1.5/64, 1.5/128

// x [2, 3] -> MatMul(x, W) named `name` -> y. Returns the graph.
std::unique_ptr<ir::Graph> matmul_graph(int opset = 13) {
  auto g = std::make_unique<ir::Graph>();
  g->opsets()[""] = opset;
  ir::Value* x = *g->add_value("x", float_info({2, 3}));
  g->add_input(x);
  ir::Value* w = *g->add_initializer("W", f32({3, 2}, kW));
  ir::Value* y = *g->add_value("y", float_info({2, 2}));
  EXPECT_TRUE(g->add_node("MatMul", "", {x, w}, {y}, "mm").has_value());
  g->add_output(y);
  return g;
}

std::map<std::string, int> histogram(const ir::Graph& g) {
  std::map<std::string, int> h;
  for (const ir::Node* n : g.nodes()) h[n->op_type()]++;
  return h;
}

std::vector<double> run_graph(const ir::Graph& g, const Tensor& x) {
  cpu::Executor ex(g, 1);
  auto r = ex.run({{"x", x}});
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  return r.has_value() ? values((*r)[0]) : std::vector<double>{};
}

const Tensor& init(const ir::Graph& g, const std::string& name) {
  const ir::Value* v = g.find_value(name);
  EXPECT_NE(v, nullptr) << name;
  static Tensor empty;
  if (!v || !v->is_initializer()) return empty;
  return v->initializer();
}

const Tensor kX = f32({2, 3}, {1.0f, -0.5f, 2.0f, 0.25f, 3.0f, -1.0f});

// --- parameters ------------------------------------------------------------------------------

TEST(QuantParams, SymmetricAsymmetricAndReducedRanges) {
  int32_t lo = 0, hi = 0;
  quant_range(DType::kInt8, true, false, &lo, &hi);
  EXPECT_EQ(lo, -127);
  EXPECT_EQ(hi, 127);
  quant_range(DType::kInt8, false, false, &lo, &hi);
  EXPECT_EQ(lo, -128);
  quant_range(DType::kInt8, true, true, &lo, &hi);
  EXPECT_EQ(lo, -64);
  EXPECT_EQ(hi, 64);
  quant_range(DType::kUInt8, false, true, &lo, &hi);
  EXPECT_EQ(hi, 127);

  // Symmetric int8 over [-1, 0.5]: absmax 1, scale 2 / 254, zero point 0.
  QuantParams p = compute_quant_params(-1.0f, 0.5f, -127, 127, true);
  EXPECT_FLOAT_EQ(p.scale, static_cast<float>(2.0 / 254.0));
  EXPECT_EQ(p.zero_point, 0);
  // Asymmetric uint8 over [-1, 3]: scale 4 / 255, zero point round(63.75) = 64.
  p = compute_quant_params(-1.0f, 3.0f, 0, 255, false);
  EXPECT_FLOAT_EQ(p.scale, static_cast<float>(4.0 / 255.0));
  EXPECT_EQ(p.zero_point, 64);
  // The range always includes 0: [2, 4] is [0, 4] (zero point 0).
  p = compute_quant_params(2.0f, 4.0f, 0, 255, false);
  EXPECT_FLOAT_EQ(p.scale, static_cast<float>(4.0 / 255.0));
  EXPECT_EQ(p.zero_point, 0);
  // Symmetric uint8: zero point round(127.5) = 128.
  EXPECT_EQ(compute_quant_params(-1.0f, 1.0f, 0, 255, true).zero_point, 128);
  // An all-zero range: scale 1, zero point 0 (ONNX Runtime's choice).
  p = compute_quant_params(0.0f, 0.0f, -127, 127, true);
  EXPECT_EQ(p.scale, 1.0f);
  EXPECT_EQ(p.zero_point, 0);
}

TEST(QuantParams, RoundsHalfToEvenAndSaturates) {
  const QuantParams p{0.5f, 0};
  EXPECT_EQ(quantize_value(0.25f, p, DType::kInt8), 0);    // 0.5 -> 0
  EXPECT_EQ(quantize_value(0.75f, p, DType::kInt8), 2);    // 1.5 -> 2
  EXPECT_EQ(quantize_value(-1.25f, p, DType::kInt8), -2);  // -2.5 -> -2
  EXPECT_EQ(quantize_value(1000.0f, p, DType::kInt8), 127);
  EXPECT_EQ(quantize_value(-1000.0f, p, DType::kInt8), -128);
  EXPECT_EQ(quantize_value(-1.0f, QuantParams{0.5f, 10}, DType::kUInt8), 8);
  EXPECT_EQ(quantize_value(-100.0f, QuantParams{0.5f, 10}, DType::kUInt8), 0);
}

// --- dynamic, QOperator ----------------------------------------------------------------------

TEST(QuantizeDynamic, PerTensorInt8QOperator) {
  auto g = matmul_graph();
  const std::vector<double> want = run_graph(*g, kX);
  QuantizeReport rep;
  ASSERT_TRUE(quantize_dynamic(*g, {}, &rep).is_ok());
  ASSERT_TRUE(g->verify().is_ok()) << g->verify().to_string();
  auto h = histogram(*g);
  EXPECT_EQ(h["DynamicQuantizeLinear"], 1);
  EXPECT_EQ(h["MatMulInteger"], 1);
  EXPECT_EQ(h["Cast"], 1);
  EXPECT_EQ(h["Mul"], 2);
  EXPECT_EQ(h["MatMul"], 0);
  EXPECT_EQ(rep.quantized["MatMul"], 1);
  EXPECT_EQ(rep.weights_quantized, 1);
  EXPECT_EQ(rep.float_weight_bytes, 24);
  EXPECT_EQ(rep.quant_weight_bytes, 6 + 4 + 1);
  // Per tensor: absmax 127/64 -> scale 1/64; q = w * 64 (halves to even).
  const Tensor& q = init(*g, "W_quantized");
  EXPECT_EQ(q.dtype(), DType::kInt8);
  EXPECT_EQ(values(q), (std::vector<double>{127, -64, 32, 16, -2, 1}));
  EXPECT_EQ(values(init(*g, "W_scale")), (std::vector<double>{1.0 / 64}));
  EXPECT_EQ(values(init(*g, "W_zero_point")), (std::vector<double>{0}));
  EXPECT_EQ(init(*g, "W_zero_point").rank(), 0);
  // The original float weight is gone.
  EXPECT_FALSE(g->find_value("W")->is_initializer());
  const std::vector<double> got = run_graph(*g, kX);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.05) << i;
}

TEST(QuantizeDynamic, PerChannelInt8) {
  auto g = matmul_graph();
  QuantizeOptions o;
  o.per_channel = true;
  QuantizeReport rep;
  ASSERT_TRUE(quantize_dynamic(*g, o, &rep).is_ok());
  // Column 0: scale 1/64; column 1: scale 1/128.
  EXPECT_EQ(values(init(*g, "W_scale")), (std::vector<double>{1.0 / 64, 1.0 / 128}));
  EXPECT_EQ(values(init(*g, "W_zero_point")), (std::vector<double>{0, 0}));
  EXPECT_EQ(values(init(*g, "W_quantized")), (std::vector<double>{127, -127, 32, 33, -2, 2}));
  const std::vector<double> got = run_graph(*g, kX);
  auto ref = matmul_graph();
  const std::vector<double> want = run_graph(*ref, kX);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.05) << i;
}

TEST(QuantizeDynamic, Uint8AsymmetricAndReducedRange) {
  auto g = matmul_graph();
  QuantizeOptions o;
  o.weight_type = DType::kUInt8;
  ASSERT_TRUE(quantize_dynamic(*g, o, nullptr).is_ok());
  // [min, max] = [-0.9921875, 1.984375]: scale = 2.9765625 / 255, zp = round(0.9921875 / scale).
  const double scale = (1.984375 + 0.9921875) / 255.0;
  EXPECT_FLOAT_EQ(static_cast<float>(init(*g, "W_scale").get_as_double(0)),
                  static_cast<float>(scale));
  EXPECT_EQ(init(*g, "W_zero_point").dtype(), DType::kUInt8);
  EXPECT_EQ(init(*g, "W_zero_point").get_as_double(0), std::nearbyint(0.9921875 / scale));
  EXPECT_EQ(init(*g, "W_quantized").dtype(), DType::kUInt8);
  EXPECT_EQ(init(*g, "W_quantized").get_as_double(0), 255);
  EXPECT_EQ(init(*g, "W_quantized").get_as_double(1), 0);

  auto r = matmul_graph();
  o = {};
  o.reduce_range = true;  // int8 [-64, 64]: scale (127/64) / 64
  ASSERT_TRUE(quantize_dynamic(*r, o, nullptr).is_ok());
  EXPECT_FLOAT_EQ(static_cast<float>(init(*r, "W_scale").get_as_double(0)),
                  static_cast<float>(1.984375 / 64));
  EXPECT_EQ(init(*r, "W_quantized").get_as_double(0), 64);
}

// Two MatMuls sharing x, plus a Gemm (transB, alpha, beta, bias).
std::unique_ptr<ir::Graph> mixed_graph() {
  auto g = std::make_unique<ir::Graph>();
  g->opsets()[""] = 13;
  ir::Value* x = *g->add_value("x", float_info({2, 3}));
  g->add_input(x);
  ir::Value* w = *g->add_initializer("W", f32({3, 2}, kW));
  ir::Value* wt = *g->add_initializer("Wt", f32({2, 3}, {0.5f, -1, 0.25f, 1, 0.75f, -0.5f}));
  ir::Value* c = *g->add_initializer("C", f32({2}, {0.5f, -1.0f}));
  ir::Value* y1 = *g->add_value("y1", float_info({2, 2}));
  ir::Value* y2 = *g->add_value("y2", float_info({2, 2}));
  ir::Value* y3 = *g->add_value("y3", float_info({2, 2}));
  EXPECT_TRUE(g->add_node("MatMul", "", {x, w}, {y1}, "a").has_value());
  EXPECT_TRUE(g->add_node("MatMul", "", {x, w}, {y2}, "b").has_value());
  ir::Node* gemm = *g->add_node("Gemm", "", {x, wt, c}, {y3}, "gemm");
  gemm->set_attr("transB", int_attr(1));
  gemm->set_attr("alpha", float_attr(2.0f));
  gemm->set_attr("beta", float_attr(0.5f));
  for (ir::Value* y : {y1, y2, y3}) g->add_output(y);
  return g;
}

std::vector<std::vector<double>> run_all(const ir::Graph& g) {
  cpu::Executor ex(g, 1);
  auto r = ex.run({{"x", kX}});
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  std::vector<std::vector<double>> out;
  if (r.has_value())
    for (const Tensor& t : *r) out.push_back(values(t));
  return out;
}

TEST(QuantizeDynamic, ExcludedNodesAndSharedActivation) {
  auto g = mixed_graph();
  const auto want = run_all(*g);
  QuantizeOptions o;
  o.nodes_to_exclude = {"b"};
  QuantizeReport rep;
  ASSERT_TRUE(quantize_dynamic(*g, o, &rep).is_ok());
  ASSERT_TRUE(g->verify().is_ok());
  auto h = histogram(*g);
  EXPECT_EQ(h["MatMul"], 1);  // 'b' untouched
  EXPECT_EQ(h["MatMulInteger"], 2);
  EXPECT_EQ(h["DynamicQuantizeLinear"], 1);  // x quantized once for 'a' and 'gemm'
  EXPECT_EQ(rep.quantized["MatMul"], 1);
  EXPECT_EQ(rep.quantized["Gemm"], 1);
  // 'b' still reads the float W.
  for (const ir::Node* n : g->nodes())
    if (n->name() == "b") {
      EXPECT_EQ(n->op_type(), "MatMul");
      EXPECT_EQ(n->input(1)->name(), "W");
      EXPECT_TRUE(n->input(1)->is_initializer());
    }
  const auto got = run_all(*g);
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k)
    for (size_t i = 0; i < got[k].size(); ++i) EXPECT_NEAR(got[k][i], want[k][i], 0.1) << k;
  EXPECT_EQ(got[1], want[1]);  // the excluded node is exact
}

TEST(QuantizeDynamic, OpTypesRespected) {
  auto g = mixed_graph();
  QuantizeOptions o;
  o.op_types = {"Gemm"};
  QuantizeReport rep;
  ASSERT_TRUE(quantize_dynamic(*g, o, &rep).is_ok());
  auto h = histogram(*g);
  EXPECT_EQ(h["MatMul"], 2);
  EXPECT_EQ(h["Gemm"], 0);
  EXPECT_EQ(h["MatMulInteger"], 1);
  EXPECT_EQ(rep.total_quantized(), 1);
  // Gemm's B [2, 3] with transB is stored transposed, [3, 2].
  EXPECT_EQ(init(*g, "Wt_quantized").shape(), (Shape{3, 2}));

  auto m = mixed_graph();
  o.op_types = {"MatMul"};
  ASSERT_TRUE(quantize_dynamic(*m, o, &rep).is_ok());
  EXPECT_EQ(histogram(*m)["Gemm"], 1);
  EXPECT_EQ(histogram(*m)["MatMulInteger"], 2);
}

TEST(QuantizeDynamic, NonConstantWeightIsSkipped) {
  ir::Graph g;
  g.opsets()[""] = 13;
  ir::Value* x = *g.add_value("x", float_info({2, 3}));
  ir::Value* w = *g.add_value("w", float_info({3, 2}));
  g.add_input(x);
  g.add_input(w);
  ir::Value* y = *g.add_value("y", float_info({2, 2}));
  ASSERT_TRUE(g.add_node("MatMul", "", {x, w}, {y}, "mm").has_value());
  g.add_output(y);
  QuantizeReport rep;
  ASSERT_TRUE(quantize_dynamic(g, {}, &rep).is_ok());
  EXPECT_EQ(rep.total_quantized(), 0);
  ASSERT_EQ(rep.skipped.size(), 1u);
  EXPECT_NE(rep.skipped[0].find("node 'mm'"), std::string::npos) << rep.skipped[0];
  EXPECT_NE(rep.skipped[0].find("graph input"), std::string::npos) << rep.skipped[0];
}

TEST(QuantizeDynamic, Errors) {
  auto g = matmul_graph(10);
  Status st = quantize_dynamic(*g, {}, nullptr);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("opset"), std::string::npos) << st.message();
  auto h = matmul_graph();
  QuantizeOptions o;
  o.op_types = {"LSTM"};
  st = quantize_dynamic(*h, o, nullptr);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("LSTM"), std::string::npos);
  o = {};
  o.format = QuantFormat::kQDQ;
  o.per_channel = true;
  auto k = matmul_graph(12);  // per-axis DequantizeLinear needs opset 13
  EXPECT_FALSE(quantize_dynamic(*k, o, nullptr).is_ok());
}

// x [1, 2, 3, 3] -> Conv(W [2, 2, 2, 2], B [2], pads 1, strides 2) -> y.
std::unique_ptr<ir::Graph> conv_graph() {
  auto g = std::make_unique<ir::Graph>();
  g->opsets()[""] = 13;
  ir::Value* x = *g->add_value("x", float_info({1, 2, 3, 3}));
  g->add_input(x);
  std::vector<float> w(16);
  for (int i = 0; i < 16; ++i) w[i] = static_cast<float>(i - 6) / 8.0f;  // [-0.75, 1.125]
  ir::Value* wv = *g->add_initializer("W", f32({2, 2, 2, 2}, w));
  ir::Value* b = *g->add_initializer("B", f32({2}, {0.5f, -0.25f}));
  ir::Value* y = *g->add_value("y", float_info({1, 2, 2, 2}));
  ir::Node* n = *g->add_node("Conv", "", {x, wv, b}, {y}, "conv");
  n->set_attr("pads", ints_attr({1, 1, 1, 1}));
  n->set_attr("strides", ints_attr({2, 2}));
  g->add_output(y);
  return g;
}

const Tensor kConvX = f32({1, 2, 3, 3}, {0.5f, -1, 2, 0.25f, 3, -1, 1, 1, 0.5f,  //
                                         -2, 0.75f, 1.5f, 0, 0.5f, -0.5f, 2, 1, -1});

TEST(QuantizeDynamic, ConvToConvIntegerPerTensor) {
  auto g = conv_graph();
  cpu::Executor ref(*g, 1);
  auto want = ref.run({{"x", kConvX}});
  ASSERT_TRUE(want.has_value());
  QuantizeOptions o;
  o.per_channel = true;  // ignored for ConvInteger (ONNX Runtime's kernel: scalar w_zero_point)
  QuantizeReport rep;
  ASSERT_TRUE(quantize_dynamic(*g, o, &rep).is_ok());
  ASSERT_TRUE(g->verify().is_ok());
  auto h = histogram(*g);
  EXPECT_EQ(h["ConvInteger"], 1);
  EXPECT_EQ(h["Conv"], 0);
  EXPECT_EQ(h["Add"], 1);
  EXPECT_EQ(rep.quantized["Conv"], 1);
  for (const ir::Node* n : g->nodes())
    if (n->op_type() == "ConvInteger") {
      ASSERT_NE(n->attr("strides"), nullptr);
      EXPECT_EQ(n->attr("strides")->ints, (std::vector<int64_t>{2, 2}));
    }
  // absmax 1.125 -> scale 1.125 / 127; the weight keeps its shape.
  EXPECT_EQ(init(*g, "W_quantized").shape(), (Shape{2, 2, 2, 2}));
  EXPECT_EQ(init(*g, "W_scale").rank(), 0);
  EXPECT_FLOAT_EQ(static_cast<float>(init(*g, "W_scale").get_as_double(0)),
                  static_cast<float>(2.25 / 254));
  EXPECT_EQ(init(*g, "W_quantized").get_as_double(15), 127);
  EXPECT_EQ(init(*g, "B_reshaped").shape(), (Shape{1, 2, 1, 1}));
  cpu::Executor ex(*g, 1);
  auto got = ex.run({{"x", kConvX}});
  ASSERT_TRUE(got.has_value()) << got.status().to_string();
  ASSERT_EQ((*got)[0].shape(), (Shape{1, 2, 2, 2}));
  for (int64_t i = 0; i < 8; ++i)
    EXPECT_NEAR((*got)[0].get_as_double(i), (*want)[0].get_as_double(i), 0.1) << i;
}

TEST(QuantizeDynamic, ConvQdqPerChannelAxis0) {
  auto g = conv_graph();
  QuantizeOptions o;
  o.format = QuantFormat::kQDQ;
  o.per_channel = true;
  ASSERT_TRUE(quantize_dynamic(*g, o, nullptr).is_ok());
  EXPECT_EQ(histogram(*g)["Conv"], 1);
  EXPECT_EQ(init(*g, "W_scale").shape(), (Shape{2}));
  for (const ir::Node* n : g->nodes())
    if (n->op_type() == "DequantizeLinear") {
      ASSERT_NE(n->attr("axis"), nullptr);
      EXPECT_EQ(n->attr("axis")->i, 0);
    }
}

TEST(QuantizeDynamic, GatherTableToUint8) {
  for (QuantFormat fmt : {QuantFormat::kQOperator, QuantFormat::kQDQ}) {
    ir::Graph g;
    g.opsets()[""] = 13;
    ir::Value* idx = *g.add_value("idx", ir::ValueInfo{DType::kInt64, true, {ir::Dim{2, ""}}});
    g.add_input(idx);
    ir::Value* table = *g.add_initializer("E", f32({3, 2}, {-1, 0, 0.5f, 1, 2, 3}));
    ir::Value* y = *g.add_value("y", float_info({2, 2}));
    ASSERT_TRUE(g.add_node("Gather", "", {table, idx}, {y}, "gather").has_value());
    g.add_output(y);
    QuantizeOptions o;
    o.format = fmt;
    QuantizeReport rep;
    ASSERT_TRUE(quantize_dynamic(g, o, &rep).is_ok());
    ASSERT_TRUE(g.verify().is_ok());
    EXPECT_EQ(rep.quantized["Gather"], 1);
    EXPECT_EQ(histogram(g)["DequantizeLinear"], 1);
    // uint8 asymmetric over [-1, 3]: scale 4/255, zero point 64; q = round(v * 63.75) + 64.
    EXPECT_EQ(init(g, "E_zero_point").get_as_double(0), 64);
    EXPECT_EQ(values(init(g, "E_quantized")), (std::vector<double>{0, 64, 96, 128, 191, 255}));
    cpu::Executor ex(g, 1);
    auto r = ex.run({{"idx", i64v({2, 0})}});
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    const std::vector<double> want = {2, 3, -1, 0};
    for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(values((*r)[0])[i], want[i], 0.01) << i;
  }
}

// --- QDQ and static ----------------------------------------------------------------------------

TEST(QuantizeDynamic, QdqWeightsPerChannel) {
  auto g = matmul_graph();
  const std::vector<double> want = run_graph(*g, kX);
  QuantizeOptions o;
  o.format = QuantFormat::kQDQ;
  o.per_channel = true;
  ASSERT_TRUE(quantize_dynamic(*g, o, nullptr).is_ok());
  auto h = histogram(*g);
  EXPECT_EQ(h["DequantizeLinear"], 1);
  EXPECT_EQ(h["MatMul"], 1);
  EXPECT_EQ(h["QuantizeLinear"], 0);
  for (const ir::Node* n : g->nodes()) {
    if (n->op_type() == "DequantizeLinear") {
      ASSERT_NE(n->attr("axis"), nullptr);
      EXPECT_EQ(n->attr("axis")->i, 1);
    }
  }
  // Weight-only: the result is x times the dequantized weight.
  const std::vector<double> got = run_graph(*g, kX);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.02) << i;
}

TEST(QuantizeStatic, CalibrateMinMaxAndPercentile) {
  auto g = matmul_graph();
  std::vector<std::map<std::string, Tensor>> sets = {{{"x", kX}},
                                                     {{"x", f32({2, 3}, {0, 0, 0, 0, 0, 3.5f})}}};
  auto r = calibrate(*g, {}, sets, CalibrationMethod::kMinMax);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  ASSERT_EQ(r->count("x"), 1u);
  EXPECT_EQ(r->at("x").min, -1.0f);
  EXPECT_EQ(r->at("x").max, 3.5f);
  // 12 values; the 50th..100th percentiles by nearest rank.
  auto p = calibrate(*g, {}, sets, CalibrationMethod::kPercentile, 100.0);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->at("x").max, 3.5f);
  EXPECT_EQ(p->at("x").min, -1.0f);
  EXPECT_FALSE(calibrate(*g, {}, {}, CalibrationMethod::kMinMax).has_value());
  EXPECT_FALSE(calibrate(*g, {}, sets, CalibrationMethod::kPercentile, 20).has_value());
}

TEST(QuantizeStatic, QdqActivationParamsByHand) {
  auto g = matmul_graph();
  const std::vector<double> want = run_graph(*g, kX);
  std::map<std::string, TensorRange> ranges = {{"x", TensorRange{-1.0f, 3.0f}}};
  QuantizeReport rep;
  ASSERT_TRUE(quantize_static(*g, {}, ranges, &rep).is_ok());
  ASSERT_TRUE(g->verify().is_ok());
  auto h = histogram(*g);
  EXPECT_EQ(h["QuantizeLinear"], 1);
  EXPECT_EQ(h["DequantizeLinear"], 2);
  EXPECT_EQ(rep.activations_quantized, 1);
  // uint8 asymmetric over [-1, 3]: scale 4/255, zero point 64.
  EXPECT_FLOAT_EQ(static_cast<float>(init(*g, "x_scale").get_as_double(0)),
                  static_cast<float>(4.0 / 255));
  EXPECT_EQ(init(*g, "x_zero_point").dtype(), DType::kUInt8);
  EXPECT_EQ(init(*g, "x_zero_point").get_as_double(0), 64);
  const std::vector<double> got = run_graph(*g, kX);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.05) << i;
  // A node without a range is skipped and reported.
  auto k = matmul_graph();
  QuantizeReport rep2;
  ASSERT_TRUE(quantize_static(*k, {}, {}, &rep2).is_ok());
  EXPECT_EQ(rep2.total_quantized(), 0);
  ASSERT_EQ(rep2.skipped.size(), 1u);
  EXPECT_NE(rep2.skipped[0].find("no calibrated range"), std::string::npos);
}

}  // namespace
}  // namespace kiln::passes
