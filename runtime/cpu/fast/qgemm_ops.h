// The glue between the CPU quantized-matmul kernels (MatMulInteger, QLinearMatMul in
// runtime/cpu/ops/quant_matmul.cpp; MatMulIntegerToFloat, DynamicQuantizeMatMul in
// contrib_matmul.cpp) and the fast int8 GEMM (qgemm.h): numpy-matmul batches, zero points that
// vary per batch, and a cache of constant weight matrices packed once.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/gemm_ref.h"

namespace kiln::cpu {

// False when KILN_CPU_GEMM=ref (float32 GEMMs too) or KILN_CPU_QGEMM=ref (only the 8-bit
// ones): the quantized matmuls and DynamicQuantizeLinear then run the reference loops, for
// comparisons.
bool fast_qgemm_enabled();

// The zero point of one operand: values[batch_off[bi] + m * stride] for row m of A (or
// values[batch_off[bi] + n * stride] for column n of B) in output batch bi. values null: 0;
// stride 0: one value; batch_off empty: the same for every batch.
struct QMatMulZeroPoint {
  const int32_t* values = nullptr;
  int64_t stride = 0;
  std::vector<int64_t> batch_off;
};

// y[(bi * M + m) * N + n] = sum_k (A(bi, m, k) - a_zp) * (B(bi, k, n) - b_zp) (int32, wrapping)
// for every output batch of plan `p` (numpy matmul geometry; A and B uint8 or int8, row-major).
// B is the node's input `b_index`: when it is a constant initializer it is packed once and kept
// in a cache. The error (scratch memory exhausted) names the node.
Status qmatmul_i32(const OpContext& ctx, const MatMulPlan& p, const Tensor& a, const Tensor& b,
                   size_t b_index, const QMatMulZeroPoint& a_zp, const QMatMulZeroPoint& b_zp,
                   int32_t* y);

// The same with the float output stage fused into the GEMM (MatMulIntegerToFloat,
// DynamicQuantizeMatMul): y[(bi * M + m) * N + n] = float(int32 product) * scale[n] (+ bias[n]),
// a multiply then an add, each rounded to float (fast::QFloatOutput); scale and bias (or null)
// hold N values.
Status qmatmul_f32(const OpContext& ctx, const MatMulPlan& p, const Tensor& a, const Tensor& b,
                   size_t b_index, const QMatMulZeroPoint& a_zp, const QMatMulZeroPoint& b_zp,
                   const float* scale, const float* bias, float* y);

// ONNX Runtime's dynamic uint8 quantization of x (n values) with its parameters, vectorised
// (fast::minmax_with_zero / fast::quantize_u8) and split over the pool: the same results as the
// reference loops. NaN inputs quantize to `nan_value`.
void dynamic_quantize_u8(const OpContext& ctx, const float* x, int64_t n, float scale, int32_t zp,
                         uint8_t nan_value, uint8_t* y);
// min(0, x...) and max(0, x...) ignoring NaNs, split over the pool.
void dynamic_minmax(const OpContext& ctx, const float* x, int64_t n, float* mn, float* mx);

}  // namespace kiln::cpu
