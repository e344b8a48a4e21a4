// Packed copies of constant weight matrices, shared by every CPU kernel that multiplies by an
// initializer: the float32 packed SGEMM (runtime/cpu/fast/sgemm.h: MatMul, Gemm, com.microsoft
// Attention's projection) and the int8 GEMM (runtime/cpu/fast/qgemm.h: MatMulInteger,
// QLinearMatMul, MatMulIntegerToFloat, DynamicQuantizeMatMul, QGemm). Packed once, then reused by
// every run.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/cpu/fast/qgemm.h"
#include "runtime/cpu/fast/sgemm.h"
#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

// The packed form of input `index` (a K x N matrix with row stride b_rs and column stride b_cs)
// when it is a float32 initializer (the tensor the kernel sees is the initializer's own storage);
// null otherwise, or when it is too large to cache.
std::shared_ptr<const fast::PackedB> constant_packed_b(const OpContext& ctx, size_t index,
                                                       int64_t K, int64_t N, int64_t b_rs,
                                                       int64_t b_cs);

// The same for an 8-bit (int8 / uint8) initializer used as a [K, N] matrix, stored [K, N] or,
// with trans_b, [N, K]; null otherwise, or when it is too large to cache.
std::shared_ptr<const fast::PackedQB> constant_packed_qb(const OpContext& ctx, size_t index,
                                                         int64_t K, int64_t N, bool trans_b);

}  // namespace kiln::cpu
