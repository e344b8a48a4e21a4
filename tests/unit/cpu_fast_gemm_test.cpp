// The fast fp32 GEMM (runtime/cpu/fast/sgemm.h) against the reference loops of gemm_ref.h, for
// every micro-kernel this CPU runs (each forced explicitly), odd sizes, transposes, alpha / beta,
// padded leading dimensions, prepacked B, and bit-identical results across thread counts; and
// MatMul / Gemm nodes with constant weights (the packed-weight cache) through the executor.
//
// Tolerance: each of the two sums is a float sum of K products in some order, so each is within
// gamma_K * sum_k |a_k * b_k| of the exact value (gamma_K = K u / (1 - K u), u = 2^-24; the usual
// a-priori bound for any summation order and with or without FMA). Their difference is therefore
// at most 2 gamma_K * sum_k |a_k b_k|, scaled by |alpha|, plus a few ulps of |alpha * acc| and
// |beta * c| for the final update. The test uses 2 (K + 2) u (|alpha| sum_k |a_k b_k| + |beta c|)
// per element, computed in double: a bound that holds for any correct kernel, yet catches a
// missing or doubled term (an error of order |a_k b_k|, i.e. K u times bigger).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/thread_pool.h"
#include "runtime/cpu/executor.h"
#include "runtime/cpu/fast/sgemm.h"
#include "runtime/cpu/ops/gemm_ref.h"
#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using fast::SgemmIsa;
using kiln::testing::float_attr;
using kiln::testing::int_attr;

std::vector<SgemmIsa> isas() {
  std::vector<SgemmIsa> out{SgemmIsa::kGeneric};
  if (fast::sgemm_isa_supported(SgemmIsa::kAvx2)) out.push_back(SgemmIsa::kAvx2);
  if (fast::sgemm_isa_supported(SgemmIsa::kAvx512)) out.push_back(SgemmIsa::kAvx512);
  return out;
}

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

struct Problem {
  int64_t M, N, K;
  bool ta = false, tb = false;
  int64_t lda_pad = 0, ldb_pad = 0, ldc_pad = 0;
  float alpha = 1.0f, beta = 0.0f;
};

// Storage and strides for one problem; A is [M, K] (or [K, M] when transposed) with leading
// dimension padded by lda_pad, likewise B and C.
struct Operands {
  Problem p;
  int64_t lda, ldb, ldc, a_rs, a_cs, b_rs, b_cs;
  std::vector<float> a, b, c0;
  explicit Operands(const Problem& pr, uint32_t seed) : p(pr) {
    lda = (p.ta ? p.M : p.K) + p.lda_pad;
    ldb = (p.tb ? p.K : p.N) + p.ldb_pad;
    ldc = p.N + p.ldc_pad;
    a_rs = p.ta ? 1 : lda;
    a_cs = p.ta ? lda : 1;
    b_rs = p.tb ? 1 : ldb;
    b_cs = p.tb ? ldb : 1;
    a = random_vec(static_cast<size_t>((p.ta ? p.K : p.M) * lda), seed);
    b = random_vec(static_cast<size_t>((p.tb ? p.N : p.K) * ldb), seed + 1);
    c0 = random_vec(static_cast<size_t>(p.M * ldc), seed + 2);
  }
  std::vector<float> run(SgemmIsa isa, ThreadPool* pool) const {
    std::vector<float> c = c0;
    fast::sgemm(p.M, p.N, p.K, p.alpha, a.data(), a_rs, a_cs, b.data(), b_rs, b_cs, p.beta,
                c.data(), ldc, pool, isa);
    return c;
  }
};

std::string describe(const Problem& p, SgemmIsa isa) {
  return std::string(fast::sgemm_isa_name(isa)) + " M=" + std::to_string(p.M) +
         " N=" + std::to_string(p.N) + " K=" + std::to_string(p.K) + (p.ta ? " tA" : "") +
         (p.tb ? " tB" : "") + " alpha=" + std::to_string(p.alpha) +
         " beta=" + std::to_string(p.beta);
}

// Checks `got` against the reference, within the bound explained at the top; padding of C must
// be untouched.
void expect_close(const Operands& o, const std::vector<float>& got, SgemmIsa isa) {
  const Problem& p = o.p;
  std::vector<float> ref(static_cast<size_t>(p.M * p.N));
  gemm_ref_f32(p.M, p.N, p.K, o.a.data(), o.a_rs, o.a_cs, o.b.data(), o.b_rs, o.b_cs, ref.data(),
               p.N);
  const double u = std::ldexp(1.0, -24);
  int bad = 0;
  for (int64_t m = 0; m < p.M && bad < 5; ++m) {
    for (int64_t n = 0; n < o.ldc; ++n) {
      const float g = got[m * o.ldc + n];
      if (n >= p.N) {
        if (g != o.c0[m * o.ldc + n]) {
          ADD_FAILURE() << describe(p, isa) << ": padding of C written at " << m << "," << n;
          ++bad;
        }
        continue;
      }
      double mag = 0;
      for (int64_t k = 0; k < p.K; ++k)
        mag += std::fabs(static_cast<double>(o.a[m * o.a_rs + k * o.a_cs]) *
                         o.b[k * o.b_rs + n * o.b_cs]);
      const double cprev = p.beta == 0.0f ? 0.0 : o.c0[m * o.ldc + n];
      const double want = static_cast<double>(p.alpha) * ref[m * p.N + n] + p.beta * cprev;
      const double tol =
          2.0 * (p.K + 2) * u * (std::fabs(p.alpha) * mag + std::fabs(p.beta * cprev)) + 1e-30;
      if (!(std::fabs(g - want) <= tol)) {
        ADD_FAILURE() << describe(p, isa) << ": C(" << m << "," << n << ") = " << g << ", want "
                      << want << " +- " << tol;
        ++bad;
      }
    }
  }
}

TEST(CpuFastGemm, OddSizesEveryIsa) {
  const int64_t sizes[] = {1, 2, 7, 13, 17, 64, 127, 129, 300};
  uint32_t seed = 1;
  for (int64_t M : sizes)
    for (int64_t N : sizes)
      for (int64_t K : sizes) {
        if (M * N * K > 400000) continue;  // keeps the reference loops quick
        Problem p{M, N, K};
        Operands o(p, seed++);
        for (SgemmIsa isa : isas()) expect_close(o, o.run(isa, nullptr), isa);
      }
  // The largest ones, on the best path only.
  for (int64_t M : {127, 300})
    for (int64_t K : {129, 300}) {
      Problem p{M, 300, K};
      Operands o(p, seed++);
      expect_close(o, o.run(SgemmIsa::kAuto, nullptr), fast::sgemm_best_isa());
    }
}

TEST(CpuFastGemm, TransposesScalesAndPaddedStrides) {
  uint32_t seed = 100;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{0.5f, 1.0f},
                                 std::pair{-2.0f, -1.5f}, std::pair{1.25f, 0.25f}})
        for (auto [M, N, K] : {std::tuple{13, 17, 7}, std::tuple{129, 67, 300},
                               std::tuple{1, 33, 129}, std::tuple{40, 1, 64}}) {
          Problem p{M, N, K, ta, tb, 3, 5, 2, alpha, beta};
          Operands o(p, seed++);
          for (SgemmIsa isa : isas()) expect_close(o, o.run(isa, nullptr), isa);
        }
}

TEST(CpuFastGemm, BetaZeroIgnoresNanInC) {
  Problem p{9, 35, 20};
  Operands o(p, 7);
  for (float& v : o.c0) v = std::numeric_limits<float>::quiet_NaN();
  o.p.ldc_pad = 0;
  for (SgemmIsa isa : isas()) {
    std::vector<float> c = o.run(isa, nullptr);
    for (float v : c) ASSERT_FALSE(std::isnan(v)) << fast::sgemm_isa_name(isa);
  }
}

TEST(CpuFastGemm, EmptyK) {
  std::vector<float> c{1, 2, 3, 4, 5, 6};
  fast::sgemm(2, 3, 0, 1.0f, nullptr, 0, 1, nullptr, 3, 1, 2.0f, c.data(), 3, nullptr);
  EXPECT_EQ(c, (std::vector<float>{2, 4, 6, 8, 10, 12}));
  fast::sgemm(2, 3, 0, 1.0f, nullptr, 0, 1, nullptr, 3, 1, 0.0f, c.data(), 3, nullptr);
  EXPECT_EQ(c, std::vector<float>(6, 0.0f));
}

// Several row blocks, column blocks and K slices, over 1, 2 and 3 threads: bit-identical.
TEST(CpuFastGemm, BitExactAcrossThreadCounts) {
  ThreadPool one(1), two(2), three(3);
  for (SgemmIsa isa : isas()) {
    // Two row blocks; three column blocks and three K slices; a thin one.
    for (auto [M, N, K] :
         {std::tuple{2100, 19, 300}, std::tuple{100, 1030, 800}, std::tuple{5, 1030, 400}}) {
      Problem p{M, N, K, false, true, 1, 0, 3, 0.75f, 0.5f};
      Operands o(p, 11);
      const std::vector<float> r1 = o.run(isa, &one);
      EXPECT_EQ(r1, o.run(isa, &two)) << describe(p, isa);
      EXPECT_EQ(r1, o.run(isa, &three)) << describe(p, isa);
      EXPECT_EQ(r1, o.run(isa, nullptr)) << describe(p, isa);
    }
  }
}

// Packing A is pure data movement, whichever loop does it: a row-major A (the AVX-512 kernel packs
// its full 12-row panels with a 12 x 16 register transpose, 16 k at a time, then a scalar k tail)
// gives exactly the result of the same matrix stored column-major (the generic packing loop). M
// and K straddle the panel height and the 16-wide k blocks; K = 800 spans three K slices; a
// padded lda.
TEST(CpuFastGemm, RowMajorAPackingMatchesColumnMajor) {
  for (SgemmIsa isa : isas()) {
    for (int64_t M : {1, 12, 13, 25, 37})
      for (int64_t K : {1, 15, 16, 17, 47, 800}) {
        const int64_t N = 45, lda = K + 3;
        std::mt19937 rng(static_cast<uint32_t>(M * 1000 + K));
        std::uniform_real_distribution<float> d(-1.0f, 1.0f);
        std::vector<float> a_rm(static_cast<size_t>(M * lda)), a_cm(static_cast<size_t>(M * K));
        std::vector<float> b(static_cast<size_t>(K * N));
        for (int64_t m = 0; m < M; ++m)
          for (int64_t k = 0; k < lda; ++k) {
            const float v = d(rng);
            a_rm[m * lda + k] = v;
            if (k < K) a_cm[k * M + m] = v;
          }
        for (float& v : b) v = d(rng);
        std::vector<float> c1(static_cast<size_t>(M * N), 0.25f), c2 = c1;
        fast::sgemm(M, N, K, 0.5f, a_rm.data(), lda, 1, b.data(), N, 1, 2.0f, c1.data(), N, nullptr,
                    isa);
        fast::sgemm(M, N, K, 0.5f, a_cm.data(), 1, M, b.data(), N, 1, 2.0f, c2.data(), N, nullptr,
                    isa);
        EXPECT_EQ(c1, c2) << fast::sgemm_isa_name(isa) << " M " << M << " K " << K;
      }
  }
}

// A prepacked B gives exactly the result of packing it on the fly. With a short A, threads split
// C's columns (each over all of K); with three threads on N = 1100 the column ranges start
// inside the prepacked 256-wide blocks, and K = 800 spans three slices.
TEST(CpuFastGemm, PrepackedMatchesUnpacked) {
  ThreadPool one(1), two(2), three(3);
  for (SgemmIsa isa : isas()) {
    for (bool tb : {false, true}) {
      for (auto [M, N, K] : {std::tuple{77, 600, 270}, std::tuple{13, 1100, 800}}) {
        Problem p{M, N, K, false, tb, 0, 4, 0, 1.0f, 0.0f};
        Operands o(p, 21);
        const std::vector<float> want = o.run(isa, &one);
        EXPECT_EQ(o.run(isa, &two), want) << describe(p, isa);
        auto packed = fast::prepack_b(p.K, p.N, o.b.data(), o.b_rs, o.b_cs, isa);
        ASSERT_NE(packed, nullptr);
        EXPECT_EQ(packed->isa, isa);
        for (ThreadPool* pool : {&one, &two, &three}) {
          std::vector<float> c = o.c0;
          fast::sgemm_packed(p.M, 1.0f, o.a.data(), o.a_rs, o.a_cs, *packed, 0.0f, c.data(), o.ldc,
                             pool);
          EXPECT_EQ(c, want) << describe(p, isa) << " threads " << pool->num_threads();
        }
      }
    }
  }
}

ir::Value* input(ir::Graph& g, const std::string& name, const Shape& shape) {
  ir::ValueInfo info{DType::kFloat32, true, {}};
  for (int64_t d : shape) info.dims.push_back(ir::Dim{d, ""});
  ir::Value* v = g.add_value(name, info).value();
  g.add_input(v);
  return v;
}

// MatMul (batched, constant B) and Gemm (transB, bias) through the executor,
// twice (the second run uses the cached packed weights), against the reference loops.
Tensor run_graph(ir::Graph& g, const std::string& in_name, const Tensor& x, int threads) {
  Executor ex(g, threads);
  auto out = ex.run({{in_name, x}});
  EXPECT_TRUE(out.has_value()) << out.status().message();
  if (!out.has_value()) return Tensor();
  return (*out)[0];
}

TEST(CpuFastGemm, MatMulAndGemmNodesWithConstantWeights) {
  const int64_t B = 3, M = 37, K = 70, N = 45;
  const std::vector<float> xv = random_vec(static_cast<size_t>(B * M * K), 31);
  const std::vector<float> wv = random_vec(static_cast<size_t>(K * N), 32);
  const std::vector<float> bias = random_vec(static_cast<size_t>(N), 33);
  const Tensor x = Tensor::from_vector<float>({B, M, K}, xv);
  std::vector<float> ref(static_cast<size_t>(B * M * N));
  gemm_ref_f32(B * M, N, K, xv.data(), K, 1, wv.data(), N, 1, ref.data(), N);

  ir::Graph g;
  g.opsets()[""] = 13;
  ir::Value* in = input(g, "x", {B, M, K});
  ir::Value* w = g.add_initializer("w", Tensor::from_vector<float>({K, N}, wv)).value();
  ir::Value* out = g.add_value("y").value();
  ASSERT_TRUE(g.add_node("MatMul", "", {in, w}, {out}, "mm").has_value());
  g.add_output(out);
  Tensor first;
  for (int threads : {1, 2, 2}) {
    Tensor y = run_graph(g, "x", x, threads);
    ASSERT_TRUE(y.defined());
    ASSERT_EQ(y.shape(), (Shape{B, M, N}));
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y.data<float>()[i], ref[i], 1e-4) << i;
    if (!first.defined()) first = y;
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.data<float>()[i], first.data<float>()[i]);
  }

  // Gemm: x2 [M, K] x w^T (w stored [N, K]) + bias [N], alpha 0.5, beta 2.
  ir::Graph g2;
  g2.opsets()[""] = 13;
  ir::Value* in2 = input(g2, "x", {M, K});
  ir::Value* wt = g2.add_initializer("wt", Tensor::from_vector<float>({N, K}, wv)).value();
  ir::Value* c = g2.add_initializer("c", Tensor::from_vector<float>({N}, bias)).value();
  ir::Value* out2 = g2.add_value("y").value();
  auto gm = g2.add_node("Gemm", "", {in2, wt, c}, {out2}, "gemm");
  ASSERT_TRUE(gm.has_value());
  (*gm)->set_attr("transB", int_attr(1));
  (*gm)->set_attr("alpha", float_attr(0.5f));
  (*gm)->set_attr("beta", float_attr(2.0f));
  g2.add_output(out2);
  const Tensor x2 =
      Tensor::from_vector<float>({M, K}, std::vector<float>(xv.begin(), xv.begin() + M * K));
  std::vector<float> ref2(static_cast<size_t>(M * N));
  gemm_ref_f32(M, N, K, xv.data(), K, 1, wv.data(), 1, K, ref2.data(), N);
  for (int threads : {1, 2}) {
    for (int rep = 0; rep < 2; ++rep) {
      Tensor y = run_graph(g2, "x", x2, threads);
      ASSERT_TRUE(y.defined());
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n)
          ASSERT_NEAR(y.data<float>()[m * N + n], 0.5f * ref2[m * N + n] + 2.0f * bias[n], 1e-4);
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
