// Plain reference GEMM loops for the CPU kernels (MatMul, Gemm, MatMulInteger, QLinearMatMul;
// later Conv / ConvInteger), and numpy-matmul shape planning (1-D promotion, batch broadcast).
// Every output element is accumulated over k in ascending order starting from zero, so results
// depend neither on how rows are split across threads nor on the caller's row ranges.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/cpu/ops/common.h"

namespace kiln::cpu {

// Matrices are strided views: element (r, c) of A is a[r * a_rs + c * a_cs] (a transpose is a
// swap of the two strides).
//
// C(m, n) = sum_k Acc(A(m, k)) * Acc(B(k, n)) for m in [m_begin, m_end) and every n in [0, N);
// C(m, n) is written to c[m * ldc + n]. Acc is the accumulation type (float for float / half /
// bfloat16 operands, double for double; an unsigned 64-bit type gives wrapping integer
// arithmetic without undefined behaviour).
template <typename Acc, typename TA, typename TB>
void gemm_ref_rows(int64_t m_begin, int64_t m_end, int64_t N, int64_t K, const TA* a, int64_t a_rs,
                   int64_t a_cs, const TB* b, int64_t b_rs, int64_t b_cs, Acc* c, int64_t ldc) {
  if (b_rs == 1 && b_cs != 1) {
    // B is stored transposed (columns contiguous): dot products, still k ascending from zero,
    // which gives the same values as the row form below.
    for (int64_t m = m_begin; m < m_end; ++m) {
      const TA* arow = a + m * a_rs;
      for (int64_t n = 0; n < N; ++n) {
        const TB* bcol = b + n * b_cs;
        Acc acc = Acc(0);
        for (int64_t k = 0; k < K; ++k)
          acc += static_cast<Acc>(arow[k * a_cs]) * static_cast<Acc>(bcol[k]);
        c[m * ldc + n] = acc;
      }
    }
    return;
  }
  for (int64_t m = m_begin; m < m_end; ++m) {
    Acc* crow = c + m * ldc;
    for (int64_t n = 0; n < N; ++n) crow[n] = Acc(0);
    const TA* arow = a + m * a_rs;
    for (int64_t k = 0; k < K; ++k) {
      const Acc av = static_cast<Acc>(arow[k * a_cs]);
      const TB* brow = b + k * b_rs;
      if (b_cs == 1) {
        for (int64_t n = 0; n < N; ++n) crow[n] += av * static_cast<Acc>(brow[n]);
      } else {
        for (int64_t n = 0; n < N; ++n) crow[n] += av * static_cast<Acc>(brow[n * b_cs]);
      }
    }
  }
}

// float GEMM: C(m, n) = sum_k A(m, k) * B(k, n), rows [0, M).
inline void gemm_ref_f32(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs,
                         int64_t a_cs, const float* b, int64_t b_rs, int64_t b_cs, float* c,
                         int64_t ldc) {
  gemm_ref_rows<float>(0, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c, ldc);
}

// Integer GEMM for 8-bit (or 16-bit) operands with zero points and int32 accumulation:
// C(m, n) = sum_k (A(m, k) - a_zp[m * a_zp_stride]) * (B(k, n) - b_zp[n * b_zp_stride]),
// rows [m_begin, m_end). A null zero point means 0; a zp stride of 0 means one value for all
// rows / columns. The accumulation wraps modulo 2^32 (as int32 hardware does) instead of being
// undefined on overflow.
template <typename TA, typename TB>
void gemm_ref_i32_rows(int64_t m_begin, int64_t m_end, int64_t N, int64_t K, const TA* a,
                       int64_t a_rs, int64_t a_cs, const int32_t* a_zp, int64_t a_zp_stride,
                       const TB* b, int64_t b_rs, int64_t b_cs, const int32_t* b_zp,
                       int64_t b_zp_stride, int32_t* c, int64_t ldc) {
  std::vector<uint32_t> acc(static_cast<size_t>(N));
  std::vector<int32_t> bzp(static_cast<size_t>(N), 0);
  if (b_zp)
    for (int64_t n = 0; n < N; ++n) bzp[n] = b_zp[n * b_zp_stride];
  for (int64_t m = m_begin; m < m_end; ++m) {
    const int32_t azp = a_zp ? a_zp[m * a_zp_stride] : 0;
    for (int64_t n = 0; n < N; ++n) acc[n] = 0;
    const TA* arow = a + m * a_rs;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t av = static_cast<int64_t>(arow[k * a_cs]) - azp;
      const TB* brow = b + k * b_rs;
      for (int64_t n = 0; n < N; ++n) {
        const int64_t bv = static_cast<int64_t>(brow[n * b_cs]) - bzp[n];
        acc[n] += static_cast<uint32_t>(av * bv);
      }
    }
    int32_t* crow = c + m * ldc;
    for (int64_t n = 0; n < N; ++n) crow[n] = static_cast<int32_t>(acc[n]);
  }
}

// uint8/int8 GEMM with int32 accumulation over all rows [0, M).
template <typename TA, typename TB>
void gemm_ref_i32(int64_t M, int64_t N, int64_t K, const TA* a, int64_t a_rs, int64_t a_cs,
                  const int32_t* a_zp, int64_t a_zp_stride, const TB* b, int64_t b_rs, int64_t b_cs,
                  const int32_t* b_zp, int64_t b_zp_stride, int32_t* c, int64_t ldc) {
  gemm_ref_i32_rows(0, M, N, K, a, a_rs, a_cs, a_zp, a_zp_stride, b, b_rs, b_cs, b_zp, b_zp_stride,
                    c, ldc);
}

// numpy.matmul geometry: a 1-D A is promoted to [1, K] and a 1-D B to [K, 1] (the added dim is
// removed from the output); the batch dims (all but the last two) broadcast.
struct MatMulPlan {
  int64_t M = 0, N = 0, K = 0;
  Shape a_batch, b_batch;  // operands' own batch dims (empty for rank <= 2)
  Shape batch;             // broadcast batch dims
  int64_t batch_count = 1;
  Shape out_shape;
  bool a_vector = false, b_vector = false;  // 1-D operands
};

inline Expected<MatMulPlan> plan_matmul(const Shape& a, const Shape& b) {
  if (a.empty() || b.empty())
    return invalid_argument("matmul operands must have rank >= 1, got " + shape_to_string(a) +
                            " and " + shape_to_string(b));
  MatMulPlan p;
  p.a_vector = a.size() == 1;
  p.b_vector = b.size() == 1;
  p.M = p.a_vector ? 1 : a[a.size() - 2];
  p.K = a.back();
  const int64_t kb = p.b_vector ? b[0] : b[b.size() - 2];
  p.N = p.b_vector ? 1 : b.back();
  if (kb != p.K)
    return invalid_argument("matmul inner dimensions differ: " + shape_to_string(a) + " x " +
                            shape_to_string(b));
  if (a.size() > 2) p.a_batch.assign(a.begin(), a.end() - 2);
  if (b.size() > 2) p.b_batch.assign(b.begin(), b.end() - 2);
  // Batch broadcast (numpy rules, right-aligned).
  p.batch.assign(std::max(p.a_batch.size(), p.b_batch.size()), 1);
  for (const Shape* s : {&p.a_batch, &p.b_batch}) {
    const size_t off = p.batch.size() - s->size();
    for (size_t i = 0; i < s->size(); ++i) {
      const int64_t d = (*s)[i];
      int64_t& o = p.batch[off + i];
      if (d == o || d == 1) continue;
      if (o != 1)
        return invalid_argument("matmul batch dims do not broadcast: " + shape_to_string(a) +
                                " x " + shape_to_string(b));
      o = d;
    }
  }
  p.out_shape = p.batch;
  if (!p.a_vector) p.out_shape.push_back(p.M);
  if (!p.b_vector) p.out_shape.push_back(p.N);
  KILN_ASSIGN_OR_RETURN(int64_t n, checked_numel(p.out_shape));
  (void)n;
  p.batch_count = numel_of(p.batch);
  return p;
}

// For each index of `batch` (row-major), the element offset of the matching matrix in an
// operand with batch dims `operand_batch` (right-aligned, broadcast) and `matrix_numel` elements
// per matrix. Only call when the output is non-empty (the list has one entry per batch).
inline std::vector<int64_t> batch_offsets(const Shape& batch, const Shape& operand_batch,
                                          int64_t matrix_numel) {
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(numel_of(batch)));
  for (BroadcastIter it(batch, {operand_batch}); !it.done(); it.next())
    out.push_back(it.offset(0) * matrix_numel);
  return out;
}

// A chunk size for parallel_for over matrix rows so that each chunk does enough work.
inline int64_t gemm_row_grain(int64_t N, int64_t K) {
  const int64_t per_row = std::max<int64_t>(1, N) * std::max<int64_t>(1, K);
  return std::max<int64_t>(1, (int64_t{1} << 15) / per_row);
}

}  // namespace kiln::cpu
