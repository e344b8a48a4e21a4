// Unit tests for the com.microsoft QGemm CPU kernel (runtime/cpu/ops/contrib_qgemm.cpp) on odd
// sizes (M 1 / 13 / 127, odd K, transA / transB, per tensor / per column, uint8 / int8): against
// a dequantize -> Gemm reference in double (float output within 1e-5 of the output's max abs
// value; 8-bit output off by at most one code, where float rounding of the scale moves a value
// across a .5 boundary) and against ONNX Runtime's output stage written out in scalar float from
// an exact int64 sum (bit-equal), at 1 and 3 threads; plus the errors bad inputs give.
#include <gtest/gtest.h>

#include <algorithm>
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

Expected<std::vector<Tensor>> run_qgemm(const std::vector<Tensor>& inputs, const AttrMap& attrs,
                                        int threads) {
  ir::Graph g;
  g.opsets()[""] = 17;
  g.opsets()["com.microsoft"] = 1;
  std::vector<ir::Value*> ins;
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
  ir::Value* out = *g.add_value("out");
  auto node = g.add_node("QGemm", "com.microsoft", ins, {out}, kNodeName);
  if (!node) return node.status();
  for (const auto& [k, a] : attrs) (*node)->set_attr(k, a);
  g.add_output(out);
  cpu::Executor ex(g, threads);
  return ex.run(feeds);
}

struct Case {
  int64_t m, k, n;
  bool a_signed, b_signed, trans_a, trans_b, per_col;
  float alpha;
  bool bias, quant_out;
};

Tensor int8_tensor(bool is_signed, const Shape& s, std::mt19937& rng) {
  Tensor t = Tensor::create(is_signed ? DType::kInt8 : DType::kUInt8, s).value();
  for (int64_t i = 0; i < t.numel(); ++i)
    t.set_from_double(i, is_signed ? int(rng() % 256) - 128 : int(rng() % 256));
  return t;
}

void check(const Case& c, unsigned seed) {
  SCOPED_TRACE("m " + std::to_string(c.m) + " k " + std::to_string(c.k) + " n " +
               std::to_string(c.n) + " transA " + std::to_string(c.trans_a) + " transB " +
               std::to_string(c.trans_b) + " per_col " + std::to_string(c.per_col) + " quant_out " +
               std::to_string(c.quant_out));
  std::mt19937 rng(seed);
  const int64_t M = c.m, K = c.k, N = c.n;
  Tensor a = int8_tensor(c.a_signed, c.trans_a ? Shape{K, M} : Shape{M, K}, rng);
  Tensor b = int8_tensor(c.b_signed, c.trans_b ? Shape{N, K} : Shape{K, N}, rng);
  const float as = 0.0123f;
  Tensor azp = int8_tensor(c.a_signed, {}, rng);
  const int64_t nb = c.per_col ? N : 1;
  const Shape ps = c.per_col ? Shape{N} : Shape{};
  Tensor bs = Tensor::create(DType::kFloat32, ps).value();
  for (int64_t i = 0; i < nb; ++i) bs.data<float>()[i] = 0.002f + 0.0007f * float(i % 5);
  Tensor bzp = int8_tensor(c.b_signed, ps, rng);
  Tensor cb = Tensor::create(DType::kInt32, {N}).value();
  for (int64_t i = 0; i < N; ++i) cb.data<int32_t>()[i] = int32_t(rng() % 60001) - 30000;
  const float ys = 0.0371f * std::sqrt(float(K));
  Tensor yzp = int8_tensor(c.a_signed, {}, rng);
  std::vector<Tensor> in = {a, Tensor::scalar<float>(as), azp, b, bs, bzp};
  if (c.bias || c.quant_out) in.push_back(c.bias ? cb : Tensor());
  if (c.quant_out) {
    in.push_back(Tensor::scalar<float>(ys));
    in.push_back(yzp);
  }
  const AttrMap attrs{{"alpha", float_attr(c.alpha)},
                      {"transA", int_attr(c.trans_a)},
                      {"transB", int_attr(c.trans_b)}};

  // Exact int64 sums, the dequantized reference in double, and ORT's float output stage.
  auto A = [&](int64_t m, int64_t k) { return a.get_as_double(c.trans_a ? k * M + m : m * K + k); };
  auto B = [&](int64_t k, int64_t n) { return b.get_as_double(c.trans_b ? n * K + k : k * N + n); };
  std::vector<double> ref(size_t(M * N)), ort(size_t(M * N));
  const double az = azp.get_as_double(0), yz = yzp.get_as_double(0);
  const double qmin = c.a_signed ? -128 : 0, qmax = c.a_signed ? 127 : 255;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      const int64_t j = c.per_col ? n : 0;
      const double bz = bzp.get_as_double(j);
      const float bsv = bs.data<float>()[j];
      int64_t acc = c.bias ? cb.data<int32_t>()[n] : 0;
      double deq = 0;
      for (int64_t k = 0; k < K; ++k) {
        acc += int64_t(A(m, k) - az) * int64_t(B(k, n) - bz);
        deq += (double(as) * (A(m, k) - az)) * (double(bsv) * (B(k, n) - bz));
      }
      double y = double(c.alpha) * deq;
      if (c.bias) y += double(c.alpha) * double(as) * double(bsv) * cb.data<int32_t>()[n];
      float scale = c.alpha * as * bsv;
      if (c.quant_out) scale /= ys;
      const float f = float(acc) * scale;
      if (c.quant_out) {
        ref[m * N + n] = std::clamp(std::nearbyint(y / double(ys)) + yz, qmin, qmax);
        ort[m * N + n] = std::clamp(double(std::nearbyint(f)) + yz, qmin, qmax);
      } else {
        ref[m * N + n] = y;
        ort[m * N + n] = f;
      }
    }
  double maxabs = 0;
  for (double v : ref) maxabs = std::max(maxabs, std::fabs(v));
  for (int threads : {1, 3}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    auto r = run_qgemm(in, attrs, threads);
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    const Tensor& y = (*r)[0];
    ASSERT_EQ(y.shape(), (Shape{M, N}));
    ASSERT_EQ(y.dtype(),
              c.quant_out ? (c.a_signed ? DType::kInt8 : DType::kUInt8) : DType::kFloat32);
    int64_t off = 0;
    for (int64_t i = 0; i < M * N; ++i) {
      const double v = y.get_as_double(i);
      ASSERT_EQ(v, ort[i]) << "element " << i;  // ORT's output stage, bit for bit
      if (c.quant_out) {
        ASSERT_LE(std::fabs(v - ref[i]), 1.0) << "element " << i;
        off += v != ref[i];
      } else {
        ASSERT_LE(std::fabs(v - ref[i]), 1e-5 * maxabs) << "element " << i;
      }
    }
    EXPECT_LE(off * 50, M * N);  // codes off by one: at most 2%
  }
}

TEST(CpuQGemm, OddSizesAgainstDequantizedGemmAndOrtOutputStage) {
  unsigned seed = 1;
  for (int64_t m : {1, 13, 127})
    for (int64_t k : {1, 33, 131})
      for (bool tb : {false, true})
        for (bool pc : {false, true})
          for (bool q : {false, true}) {
            const int64_t n = m == 13 ? 17 : 9;
            check({m, k, n, false, true, false, tb, pc, 1.0f, true, q}, seed++);
          }
  // int8 A with int8 / uint8 B, uint8 A and B, transA, alpha, no bias.
  check({13, 65, 11, true, true, true, true, true, 0.75f, true, true}, 100);
  check({127, 17, 5, true, false, true, false, false, 2.0f, false, true}, 101);
  check({13, 9, 31, false, false, true, true, true, 0.5f, false, false}, 102);
}

TEST(CpuQGemm, BadInputs) {
  const Tensor a = u8({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = s8({3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor one = Tensor::scalar<float>(1);
  const Tensor azp = Tensor::scalar<uint8_t>(0);
  const Tensor bzp = Tensor::scalar<int8_t>(0);
  // A [2, 3] times B [2, 2]: K 3 vs 2.
  expect_error(run_qgemm({a, one, azp, s8({2, 2}, {1, 2, 3, 4}), one, bzp}, {}, 1),
               "inner dimensions");
  // b_scale of the wrong length.
  expect_error(run_qgemm({a, one, azp, b, f32v({1, 2, 3}), s8({3}, {0, 0, 0})}, {}, 1), "b_scale");
  // C that does not broadcast to [2, 2].
  expect_error(run_qgemm({a, one, azp, b, one, bzp, i32v({1, 2, 3})}, {}, 1), "C has shape");
  // y_scale without y_zero_point.
  expect_error(run_qgemm({a, one, azp, b, one, bzp, Tensor(), one}, {}, 1), "y_zero_point");
  // a_zero_point of another type than A.
  expect_error(run_qgemm({a, one, Tensor::scalar<int8_t>(0), b, one, bzp}, {}, 1), "a_zero_point");
  // C [2, 1] (per row) broadcasts: row sums plus C.
  auto r = run_qgemm({a, one, azp, b, one, bzp, i32({2, 1}, {100, 200})}, {}, 1);
  expect_result(r, DType::kFloat32, {2, 2},
                {1 * 1 + 2 * 3 + 3 * 5 + 100, 1 * 2 + 2 * 4 + 3 * 6 + 100,
                 4 * 1 + 5 * 3 + 6 * 5 + 200, 4 * 2 + 5 * 4 + 6 * 6 + 200});
}

}  // namespace
}  // namespace kiln::cpu
