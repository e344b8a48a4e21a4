// Packed copies of constant float32 weight matrices for the packed SGEMM
// (runtime/cpu/fast/sgemm.h), shared by every kernel that multiplies by an initializer (MatMul,
// Gemm, com.microsoft Attention's projection): packed once, then reused by every run.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/cpu/fast/sgemm.h"
#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

// The packed form of input `index` (a K x N matrix with row stride b_rs and column stride b_cs)
// when it is a float32 initializer (the tensor the kernel sees is the initializer's own storage);
// null otherwise, or when it is too large to cache.
std::shared_ptr<const fast::PackedB> constant_packed_b(const OpContext& ctx, size_t index,
                                                       int64_t K, int64_t N, int64_t b_rs,
                                                       int64_t b_cs);

}  // namespace kiln::cpu
