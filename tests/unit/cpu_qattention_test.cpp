// Unit tests for the CPU QAttention kernel (runtime/cpu/ops/contrib_qattention.cpp) against the
// dequantize -> Attention reference: input and weight dequantized in double
// ((q - zp) * scale, exact in float for these small codes and power-of-two-free scales), fed to
// kiln's own float Attention kernel. Odd sizes (seq 1, 7, 13; head sizes 32 and 64), with and
// without mask_index, unidirectional, per-tensor and per-column weight scales and zero points,
// int8 and uint8 weights, past / present, the weight as a constant initializer (packed once) or
// as a graph input; and the errors hostile models must produce.
//
// Tolerance: 2e-4 absolute on outputs of magnitude <= ~3. The two sides differ only in float
// rounding: QAttention's projection is an exact int32 sum times one scale (one rounding for the
// product, one for the bias), the reference sums hidden (<= 128) float products; measured
// differences are <= ~1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/cpu/executor.h"
#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

// Runs one com.microsoft node; inputs whose index is in `constants` become initializers.
Expected<std::vector<Tensor>> run_ms(const std::string& op, const std::vector<Tensor>& inputs,
                                     const AttrMap& attrs, int n_outputs = 1,
                                     const std::vector<size_t>& constants = {}) {
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
    bool is_const = false;
    for (size_t c : constants) is_const = is_const || c == i;
    if (is_const) {
      ins.push_back(*g.add_initializer(name, inputs[i]));
      continue;
    }
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
  cpu::Executor ex(g, 2);
  return ex.run(feeds);
}

struct Case {
  int64_t batch = 2, seq = 7, heads = 2, head_size = 32, past_seq = 0;
  bool per_column = false;
  bool int8_weight = true;
  bool unidirectional = false;
  int mask = 0;  // 0 none, 1 key lengths [batch], 2 [batch, total_seq] of 0 / 1
  bool constant_weight = false;
};

std::string describe(const Case& c) {
  return "batch " + std::to_string(c.batch) + " seq " + std::to_string(c.seq) + " heads " +
         std::to_string(c.heads) + " head_size " + std::to_string(c.head_size) + " past " +
         std::to_string(c.past_seq) + " per_column " + std::to_string(c.per_column) + " int8 " +
         std::to_string(c.int8_weight) + " unidirectional " + std::to_string(c.unidirectional) +
         " mask " + std::to_string(c.mask) + " constant " + std::to_string(c.constant_weight);
}

void check_case(const Case& c) {
  SCOPED_TRACE(describe(c));
  std::mt19937 rng(static_cast<unsigned>(c.seq * 131 + c.head_size * 7 + c.mask * 3 + c.per_column +
                                         c.past_seq * 17));
  const int64_t hidden = c.heads * c.head_size, cols = 3 * hidden, D = hidden;
  const int64_t T = c.past_seq + c.seq;
  // Input codes (uint8, zero point 118), weight codes (int8 zp 0 / 3 per column, or uint8 zp
  // 128 / per column), scales chosen so the projection is O(1).
  std::uniform_int_distribution<int> xu(90, 150), wi(-20, 20), zpi(-3, 3);
  Tensor xq = Tensor::create(DType::kUInt8, {c.batch, c.seq, D}).value();
  for (int64_t i = 0; i < xq.numel(); ++i) xq.data<uint8_t>()[i] = static_cast<uint8_t>(xu(rng));
  const float x_scale = 0.021f;
  const uint8_t x_zp = 118;
  Tensor wq = Tensor::create(c.int8_weight ? DType::kInt8 : DType::kUInt8, {D, cols}).value();
  const int64_t nparam = c.per_column ? cols : 1;
  Tensor ws = c.per_column ? Tensor::create(DType::kFloat32, {cols}).value()
                           : Tensor::create(DType::kFloat32, {}).value();
  Tensor wz = c.per_column ? Tensor::create(wq.dtype(), {cols}).value()
                           : Tensor::create(wq.dtype(), {}).value();
  std::uniform_real_distribution<float> su(0.004f, 0.012f);
  for (int64_t i = 0; i < nparam; ++i) {
    ws.data<float>()[i] = su(rng);
    wz.set_from_double(i, (c.int8_weight ? 0 : 128) + (c.per_column ? zpi(rng) : 2));
  }
  for (int64_t k = 0; k < D; ++k)
    for (int64_t n = 0; n < cols; ++n) {
      const int64_t z = static_cast<int64_t>(wz.get_as_double(c.per_column ? n : 0));
      wq.set_from_double(k * cols + n, static_cast<double>(z + wi(rng)));
    }
  Tensor bias = Tensor::create(DType::kFloat32, {cols}).value();
  std::uniform_real_distribution<float> bu(-0.5f, 0.5f);
  for (int64_t i = 0; i < cols; ++i) bias.data<float>()[i] = bu(rng);
  Tensor past;
  if (c.past_seq > 0) {
    past = Tensor::create(DType::kFloat32, {2, c.batch, c.heads, c.past_seq, c.head_size}).value();
    for (int64_t i = 0; i < past.numel(); ++i) past.data<float>()[i] = bu(rng);
  }
  Tensor mask;
  if (c.mask == 1) {
    mask = Tensor::create(DType::kInt32, {c.batch}).value();
    for (int64_t b = 0; b < c.batch; ++b)
      mask.data<int32_t>()[b] = static_cast<int32_t>(std::max<int64_t>(1, T - b * 2));
  } else if (c.mask == 2) {
    mask = Tensor::create(DType::kInt32, {c.batch, T}).value();
    for (int64_t i = 0; i < mask.numel(); ++i) mask.data<int32_t>()[i] = (i % 5 == 3) ? 0 : 1;
  }
  // Dequantized operands for the reference.
  Tensor xf = Tensor::create(DType::kFloat32, xq.shape()).value();
  for (int64_t i = 0; i < xq.numel(); ++i)
    xf.data<float>()[i] =
        static_cast<float>((static_cast<double>(xq.data<uint8_t>()[i]) - x_zp) * x_scale);
  Tensor wf = Tensor::create(DType::kFloat32, {D, cols}).value();
  for (int64_t k = 0; k < D; ++k)
    for (int64_t n = 0; n < cols; ++n) {
      const int64_t p = c.per_column ? n : 0;
      wf.data<float>()[k * cols + n] = static_cast<float>(
          (wq.get_as_double(k * cols + n) - wz.get_as_double(p)) * ws.data<float>()[p]);
    }
  AttrMap attrs = {{"num_heads", int_attr(c.heads)}};
  if (c.unidirectional) attrs["unidirectional"] = int_attr(1);
  const int n_out = c.past_seq > 0 ? 2 : 1;
  std::vector<size_t> consts;
  if (c.constant_weight) consts = {1};
  auto got = run_ms("QAttention",
                    {xq, wq, bias, Tensor::scalar<float>(x_scale), ws, mask,
                     Tensor::scalar<uint8_t>(x_zp), wz, past},
                    attrs, n_out, consts);
  auto want = run_ms("Attention", {xf, wf, bias, mask, past}, attrs, n_out);
  ASSERT_TRUE(got.has_value()) << got.status().message();
  ASSERT_TRUE(want.has_value()) << want.status().message();
  for (int o = 0; o < n_out; ++o) {
    const Tensor& g = (*got)[o];
    const Tensor& w = (*want)[o];
    ASSERT_EQ(g.dtype(), DType::kFloat32);
    ASSERT_EQ(g.shape(), w.shape()) << "output " << o;
    double worst = 0, mag = 0;
    for (int64_t i = 0; i < g.numel(); ++i) {
      worst = std::max(worst, std::fabs(g.get_as_double(i) - w.get_as_double(i)));
      mag = std::max(mag, std::fabs(w.get_as_double(i)));
    }
    EXPECT_LE(worst, 2e-4) << "output " << o << " (max |want| " << mag << ")";
    EXPECT_GT(mag, 0.05) << "output " << o << " is degenerate";
  }
}

TEST(CpuQAttention, MatchesDequantizedAttention) {
  for (int64_t seq : {1, 7, 13})
    for (int64_t hs : {32, 64})
      for (int mask : {0, 1, 2}) {
        Case c;
        c.seq = seq;
        c.head_size = hs;
        c.mask = mask;
        c.per_column = (seq + mask) % 2 == 1;
        c.int8_weight = hs == 32 || mask != 1;
        c.constant_weight = mask == 2;
        check_case(c);
      }
}

TEST(CpuQAttention, Unidirectional) {
  for (int64_t seq : {1, 7, 13}) {
    Case c;
    c.seq = seq;
    c.unidirectional = true;
    c.head_size = seq == 7 ? 64 : 32;
    c.mask = seq == 13 ? 2 : 0;
    c.per_column = seq != 1;
    check_case(c);
  }
}

TEST(CpuQAttention, PastAndPresent) {
  Case c;
  c.seq = 1;
  c.past_seq = 5;
  c.unidirectional = true;
  c.constant_weight = true;
  c.per_column = true;
  check_case(c);
  c.seq = 7;
  c.past_seq = 6;
  c.mask = 2;
  c.int8_weight = false;
  check_case(c);
}

TEST(CpuQAttention, Errors) {
  const Tensor xq = u8({1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor wq = s8({4, 12}, std::vector<int8_t>(48, 1));
  const Tensor bias = f32({12}, std::vector<float>(12, 0.0f));
  const Tensor xs = Tensor::scalar<float>(0.1f);
  const Tensor wsc = Tensor::scalar<float>(0.1f);
  const AttrMap heads = {{"num_heads", int_attr(2)}};
  EXPECT_TRUE(run_ms("QAttention", {xq, wq, bias, xs, wsc}, heads).has_value());
  expect_error(run_ms("QAttention", {xq, wq, bias, xs}, heads), "needs inputs");
  expect_error(run_ms("QAttention", {xq, wq, bias, xs, wsc}, {}), "num_heads");
  expect_error(run_ms("QAttention", {f32({1, 2, 4}, std::vector<float>(8, 0)), wq, bias, xs, wsc},
                      heads),
               "uint8 or int8");
  expect_error(run_ms("QAttention", {xq, s8({3, 12}, std::vector<int8_t>(36, 1)), bias, xs, wsc},
                      heads),
               "rows");
  expect_error(run_ms("QAttention", {xq, s8({4, 10}, std::vector<int8_t>(40, 1)), bias, xs, wsc},
                      heads),
               "3 * hidden");
  expect_error(run_ms("QAttention", {xq, wq, f32({6}, std::vector<float>(6, 0)), xs, wsc}, heads),
               "bias");
  expect_error(run_ms("QAttention", {xq, wq, bias, xs, f32({5}, std::vector<float>(5, 1))}, heads),
               "weight_scale");
  expect_error(run_ms("QAttention",
                      {xq, wq, bias, xs, wsc, Tensor(), Tensor::scalar<int8_t>(0)}, heads),
               "input_zero_point");
  expect_error(run_ms("QAttention", {xq, wq, bias, xs, wsc, i32({1, 3}, {1, 1, 1})}, heads),
               "mask");
  expect_error(run_ms("QAttention",
                      {xq, wq, bias, xs, wsc, Tensor(), Tensor(), Tensor(),
                       f32({2, 1, 2, 1, 3}, std::vector<float>(12, 0))},
                      heads),
               "past");
  expect_error(run_ms("QAttention", {xq, wq, bias, xs, wsc}, {{"num_heads", int_attr(2)},
                                                              {"do_rotary", int_attr(1)}}),
               "do_rotary", StatusCode::kUnsupported);
}

}  // namespace
}  // namespace kiln::cpu
