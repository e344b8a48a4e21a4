// Internal to vec_math.cpp: the per-instruction-set loops. Each set lives in its own source file
// compiled with its flags (flags.cmake); the dispatcher calls one only after checking the CPU.
#pragma once

#include <cstdint>

#include "runtime/cpu/fast/vec_math.h"

namespace kiln::cpu::fast::detail {

void vec_binary_avx2(VecBinOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* y,
                     int64_t n);
void vec_exp_avx2(const float* x, float* y, int64_t n);
// exp(x[i] - m) into y; returns the sum of the results (in double, fixed order).
double vec_exp_sub_sum_avx2(const float* x, float m, float* y, int64_t n);
// Row maximum; *has_nan set when the row holds a NaN.
float vec_max_avx2(const float* x, int64_t n, bool* has_nan);
// y[i] = y[i] * s.
void vec_scale_avx2(float* y, float s, int64_t n);
// y[i] = x[i] - s.
void vec_sub_scalar_avx2(const float* x, float s, float* y, int64_t n);

}  // namespace kiln::cpu::fast::detail
