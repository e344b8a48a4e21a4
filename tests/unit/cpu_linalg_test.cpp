// Unit tests for the CPU linear-algebra kernels (runtime/cpu/ops/linalg*.cpp): MatMul, Gemm and
// Einsum with hand-computed results, numpy broadcasting, opset rules, thread-count independence,
// and the errors hostile models must produce (a non-ok Status naming the node, never a crash).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/cpu/executor.h"
#include "tests/unit/test_util.h"

namespace kiln::cpu {
namespace {

using namespace kiln::testing;  // NOLINT: the shared test helpers

// Deterministic pseudo-random floats in [-1, 1).
std::vector<float> pseudo_random(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return v;
}

// ---- MatMul ------------------------------------------------------------------------------------

TEST(CpuMatMul, TwoD) {
  expect_result(
      run_op("MatMul", 13, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3, 2}, {7, 8, 9, 10, 11, 12})}),
      {2, 2}, {58, 64, 139, 154});
}

TEST(CpuMatMul, VectorOperandsDropTheirDim) {
  expect_result(run_op("MatMul", 13, {f32({3}, {1, 2, 3}), f32({3}, {4, 5, 6})}), {}, {32});
  expect_result(run_op("MatMul", 13, {f32({2}, {1, 2}), f32({2, 3}, {1, 2, 3, 4, 5, 6})}), {3},
                {9, 12, 15});
  expect_result(run_op("MatMul", 13, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3}, {1, 0, -1})}), {2},
                {-2, -2});
  // 1-D A against a batched B: [2] x [2, 2, 1] -> [2, 1].
  expect_result(run_op("MatMul", 13, {f32({2}, {1, 2}), f32({2, 2, 1}, {1, 2, 3, 4})}), {2, 1},
                {5, 11});
}

TEST(CpuMatMul, BatchBroadcast) {
  // A [1, 2, 2] broadcast over B's batch of 3; B batches are I, 2I, swap.
  expect_result(
      run_op("MatMul", 13,
             {f32({1, 2, 2}, {1, 2, 3, 4}), f32({3, 2, 2}, {1, 0, 0, 1, 2, 0, 0, 2, 0, 1, 1, 0})}),
      {3, 2, 2}, {1, 2, 3, 4, 2, 4, 6, 8, 2, 1, 4, 3});
  // A [2, 1, 1, 2] x B [3, 2, 1] -> [2, 3, 1, 1].
  expect_result(
      run_op("MatMul", 13, {f32({2, 1, 1, 2}, {1, 1, 1, -1}), f32({3, 2, 1}, {1, 2, 3, 4, 5, 6})}),
      {2, 3, 1, 1}, {3, 7, 11, -1, -1, -1});
}

TEST(CpuMatMul, EmptyAndZeroK) {
  expect_result(run_op("MatMul", 13, {f32({2, 0}, {}), f32({0, 3}, {})}), {2, 3},
                {0, 0, 0, 0, 0, 0});
  expect_result(run_op("MatMul", 13, {f32({0, 2}, {}), f32({2, 3}, {1, 2, 3, 4, 5, 6})}), {0, 3},
                {});
}

TEST(CpuMatMul, IntegerTypesWrapLikeTheType) {
  expect_result(run_op("MatMul", 13, {i32({1, 2}, {2, 3}), i32({2, 1}, {-4, 5})}), {1, 1}, {7});
  // int32 wraps modulo 2^32: 65536 * 65536 = 2^32 -> 0, plus 1.
  expect_result(run_op("MatMul", 13, {i32({1, 2}, {65536, 1}), i32({2, 1}, {65536, 1})}), {1, 1},
                {1});
  auto a = Tensor::from_vector<int64_t>({1, 3}, {1, -2, 3});
  auto b = Tensor::from_vector<int64_t>({3, 1}, {int64_t{1} << 40, 1, 1});
  expect_result(run_op("MatMul", 13, {a, b}), {1, 1},
                {static_cast<double>((int64_t{1} << 40) + 1)});
}

TEST(CpuMatMul, Float16AccumulatesInFloat) {
  // 2048 + 1 + 1 in half would stay 2048 at each step; the float accumulator gives 2050.
  auto a = Tensor::from_vector<Half>({1, 3}, {Half(2048.0f), Half(1.0f), Half(1.0f)});
  auto b = Tensor::from_vector<Half>({3, 1}, {Half(1.0f), Half(1.0f), Half(1.0f)});
  expect_result(run_op("MatMul", 13, {a, b}), {1, 1}, {2050});
  auto d = Tensor::from_vector<double>({1, 2}, {0.1, 0.2});
  auto e = Tensor::from_vector<double>({2, 1}, {1.0, 1.0});
  auto r = run_op("MatMul", 13, {d, e});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].data<double>()[0], 0.1 + 0.2);
}

TEST(CpuMatMul, ResultDoesNotDependOnThreads) {
  const auto av = pseudo_random(3 * 37 * 19, 1), bv = pseudo_random(19 * 23, 2);
  auto a = f32({3, 37, 19}, av), b = f32({19, 23}, bv);
  auto r1 = run_op("MatMul", 13, {a, b}, {}, 1, 1);
  auto r4 = run_op("MatMul", 13, {a, b}, {}, 1, 4);
  ASSERT_TRUE(r1.has_value() && r4.has_value());
  ASSERT_EQ((*r1)[0].nbytes(), (*r4)[0].nbytes());
  EXPECT_EQ(std::memcmp((*r1)[0].raw_data(), (*r4)[0].raw_data(), (*r1)[0].nbytes()), 0);
  // Spot-check one element against a double dot product.
  double want = 0;
  for (int k = 0; k < 19; ++k) want += double(av[(2 * 37 + 5) * 19 + k]) * bv[k * 23 + 7];
  EXPECT_NEAR((*r1)[0].data<float>()[(2 * 37 + 5) * 23 + 7], want, 1e-5);
}

TEST(CpuMatMul, Errors) {
  expect_node_error(
      run_op("MatMul", 13, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({2, 2}, {1, 2, 3, 4})}),
      "inner dimensions");
  expect_node_error(run_op("MatMul", 13, {f32({2, 1, 1}, {1, 2}), f32({3, 1, 1}, {1, 2, 3})}),
                    "batch");
  expect_node_error(run_op("MatMul", 13, {Tensor::scalar<float>(1), f32({1}, {1})}), "rank");
  expect_node_error(run_op("MatMul", 13, {f32({1}, {1}), i32({1}, {1})}), "dtype");
  expect_node_error(run_op("MatMul", 13, {f32({1}, {1})}));
  expect_node_error(
      run_op("MatMul", 13,
             {Tensor::from_vector<bool>({1}, {true}), Tensor::from_vector<bool>({1}, {true})}));
}

// ---- Gemm --------------------------------------------------------------------------------------

TEST(CpuGemm, AttributesAndBiasBroadcast) {
  const Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});   // A, M=2 K=3
  const Tensor at = f32({3, 2}, {1, 4, 2, 5, 3, 6});  // A^T
  const Tensor b = f32({3, 2}, {1, 0, 0, 1, 1, 1});   // B, N=2
  const Tensor bt = f32({2, 3}, {1, 0, 1, 0, 1, 1});  // B^T
  // A x B = [[4, 5], [10, 11]].
  expect_result(run_op("Gemm", 13, {a, b}), {2, 2}, {4, 5, 10, 11});
  expect_result(run_op("Gemm", 13, {at, bt}, {{"transA", int_attr(1)}, {"transB", int_attr(1)}}),
                {2, 2}, {4, 5, 10, 11});
  // alpha 2, beta 0.5, C broadcast as scalar, [N], [M, 1], [M, N].
  std::map<std::string, ir::Attribute> ab{{"alpha", float_attr(2)}, {"beta", float_attr(0.5f)}};
  expect_result(run_op("Gemm", 13, {a, b, Tensor::scalar<float>(2)}, ab), {2, 2}, {9, 11, 21, 23});
  expect_result(run_op("Gemm", 13, {a, b, f32({2}, {2, 4})}, ab), {2, 2}, {9, 12, 21, 24});
  expect_result(run_op("Gemm", 13, {a, b, f32({2, 1}, {2, 4})}, ab), {2, 2}, {9, 11, 22, 24});
  expect_result(run_op("Gemm", 7, {a, b, f32({2, 2}, {2, 4, 6, 8})}, ab), {2, 2}, {9, 12, 23, 26});
  // C optional from opset 11.
  expect_result(run_op("Gemm", 11, {a, b}, ab), {2, 2}, {8, 10, 20, 22});
}

TEST(CpuGemm, IntegerAndHalf) {
  expect_result(run_op("Gemm", 13, {i32({1, 2}, {3, -4}), i32({2, 1}, {5, 6}), i32({1}, {100})},
                       {{"alpha", float_attr(2)}}),
                {1, 1}, {2 * (15 - 24) + 100});
  auto h = run_op("Gemm", 13,
                  {Tensor::from_vector<Half>({1, 1}, {Half(3.0f)}),
                   Tensor::from_vector<Half>({1, 1}, {Half(0.5f)})});
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ((*h)[0].dtype(), DType::kFloat16);
  EXPECT_EQ(values((*h)[0]), std::vector<double>{1.5});
}

TEST(CpuGemm, TransposedFormsAgreeBitwise) {
  // transB uses the dot-product loop, the plain form the row loop: same k order, same bits.
  const auto av = pseudo_random(7 * 33, 3), bv = pseudo_random(33 * 5, 4);
  std::vector<float> bt(5 * 33);
  for (int k = 0; k < 33; ++k)
    for (int n = 0; n < 5; ++n) bt[n * 33 + k] = bv[k * 5 + n];
  auto r1 = run_op("Gemm", 13, {f32({7, 33}, av), f32({33, 5}, bv)});
  auto r2 = run_op("Gemm", 13, {f32({7, 33}, av), f32({5, 33}, bt)}, {{"transB", int_attr(1)}});
  ASSERT_TRUE(r1.has_value() && r2.has_value());
  EXPECT_EQ(std::memcmp((*r1)[0].raw_data(), (*r2)[0].raw_data(), (*r1)[0].nbytes()), 0);
}

TEST(CpuGemm, Errors) {
  const Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = f32({3, 2}, {1, 0, 0, 1, 1, 1});
  expect_node_error(run_op("Gemm", 9, {a, b}), "required");
  expect_node_error(run_op("Gemm", 13, {a, a}), "inner");
  expect_node_error(run_op("Gemm", 13, {a, b, f32({3}, {1, 2, 3})}), "broadcast");
  expect_node_error(run_op("Gemm", 13, {a, b, f32({2, 2, 1}, {1, 2, 3, 4})}), "broadcast");
  expect_node_error(run_op("Gemm", 13, {f32({1, 2, 3}, {1, 2, 3, 4, 5, 6}), b}), "2-D");
  expect_node_error(run_op("Gemm", 13, {a, b}, {{"transA", int_attr(2)}}), "transA");
  expect_node_error(run_op("Gemm", 13, {a, i32({3, 2}, {1, 2, 3, 4, 5, 6})}), "dtype");
}

// ---- Einsum ------------------------------------------------------------------------------------

Expected<std::vector<Tensor>> einsum(const std::string& eq, const std::vector<Tensor>& in) {
  return run_op("Einsum", 12, in, {{"equation", str_attr(eq)}});
}

TEST(CpuEinsum, ExplicitForms) {
  const Tensor m = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor n = f32({3, 2}, {1, 0, 0, 1, 1, 1});
  expect_result(einsum("ij,jk->ik", {m, n}), {2, 2}, {4, 5, 10, 11});
  expect_result(einsum("ij->ji", {m}), {3, 2}, {1, 4, 2, 5, 3, 6});
  expect_result(einsum("ij->", {m}), {}, {21});
  expect_result(einsum("ij->j", {m}), {3}, {5, 7, 9});
  expect_result(einsum("ij, ij -> ij", {m, m}), {2, 3}, {1, 4, 9, 16, 25, 36});  // spaces
  expect_result(einsum("i,j->ij", {f32({2}, {1, 2}), f32({2}, {3, 4})}), {2, 2}, {3, 4, 6, 8});
  expect_result(einsum("Ab->bA", {m}), {3, 2}, {1, 4, 2, 5, 3, 6});
}

TEST(CpuEinsum, DiagonalsAndImplicitOutput) {
  const Tensor sq = f32({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  expect_result(einsum("ii->i", {sq}), {3}, {1, 5, 9});
  expect_result(einsum("ii", {sq}), {}, {15});  // trace: repeated label is summed
  expect_result(einsum("ba", {f32({2, 3}, {1, 2, 3, 4, 5, 6})}), {3, 2},
                {1, 4, 2, 5, 3, 6});  // implicit output is "ab"
  expect_result(einsum("ij,jk", {f32({1, 2}, {1, 2}), f32({2, 1}, {3, 4})}), {1, 1}, {11});
  expect_result(einsum("i,i", {f32({3}, {1, 2, 3}), f32({3}, {4, 5, 6})}), {}, {32});
  // Diagonal across three axes: iii.
  std::vector<float> cube(8, 0);
  cube[0] = 2;
  cube[7] = 5;
  expect_result(einsum("iii->i", {f32({2, 2, 2}, cube)}), {2}, {2, 5});
}

TEST(CpuEinsum, EllipsisAndBroadcast) {
  const Tensor b = f32({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  expect_result(einsum("...ij->...ji", {b}), {2, 2, 2}, {1, 3, 2, 4, 5, 7, 6, 8});
  expect_result(einsum("...ii->...i", {b}), {2, 2}, {1, 4, 5, 8});
  // Implicit output puts the ellipsis first.
  expect_result(einsum("...ii", {b}), {2}, {5, 13});
  // Ellipsis of different ranks broadcast: [2, 2] and [2].
  expect_result(einsum("...i,...i->...", {f32({2, 2}, {1, 2, 3, 4}), f32({2}, {10, 1})}), {2},
                {12, 34});
  // Explicit output without the ellipsis sums over it.
  expect_result(einsum("...i->i", {b}), {2}, {16, 20});
  // Size-1 dims broadcast against a labelled dim.
  expect_result(einsum("bij,bjk->bik", {f32({1, 1, 2}, {1, 2}), f32({2, 2, 1}, {1, 2, 3, 4})}),
                {2, 1, 1}, {5, 11});
}

TEST(CpuEinsum, IntegerAndHalf) {
  expect_result(einsum("ij,jk->ik", {i32({1, 2}, {2, -3}), i32({2, 1}, {4, 5})}), {1, 1}, {-7});
  auto h = einsum("i,i->", {Tensor::from_vector<Half>({2}, {Half(1.5f), Half(2.0f)}),
                            Tensor::from_vector<Half>({2}, {Half(2.0f), Half(0.25f)})});
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(values((*h)[0]), std::vector<double>{3.5});
}

TEST(CpuEinsum, BadEquations) {
  const Tensor m = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_node_error(einsum("ij->k", {m}), "does not appear");
  expect_node_error(einsum("ij->ii", {m}), "more than once");
  expect_node_error(einsum("ij,jk->ik", {m}), "input terms");
  expect_node_error(einsum("i.j", {m}), "ellipsis");
  expect_node_error(einsum("......ij", {m}), "more than one ellipsis");
  expect_node_error(einsum("i1", {m}), "invalid character");
  expect_node_error(einsum("ijk", {m}), "rank");
  expect_node_error(einsum("ii", {m}), "different sizes");
  expect_node_error(einsum("ij->i->j", {m}), "->");
  expect_node_error(einsum("i-j", {m}), "->");
  expect_node_error(einsum("ij,ij->ij", {m, f32({2, 2}, {1, 2, 3, 4})}), "do not match");
  expect_node_error(einsum("ij->i,j", {m}), ",");
  expect_node_error(run_op("Einsum", 12, {m}), "equation");
  expect_node_error(einsum("ij,ij", {m, i32({2, 3}, {1, 2, 3, 4, 5, 6})}), "dtype");
}

}  // namespace
}  // namespace kiln::cpu
