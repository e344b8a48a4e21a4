// Internal to vec_math.cpp: the per-instruction-set loops (vec_avx2.cpp, vec_avx512.cpp). Each set
// lives in its own source file compiled with its flags (flags.cmake); the dispatcher calls one only
// after checking the CPU.
#pragma once

#include <cstdint>

#include "runtime/cpu/fast/vec_math.h"

namespace kiln::cpu::fast::detail {

// erf's approximation, shared by the AVX2 and scalar loops. Fitted for kiln by least squares in
// double with numpy (/tmp script: math.erf / math.erfc as the target on 6000 points per range,
// each coefficient rounded to float in turn and the remaining ones refitted):
//   |x| < kErfSplit:  erf(x) = x * sum_k kErfSmall[k] x^(2k)   (relative-error weighted fit)
//   |x| < kErfBig:    erf(x) = 1 - exp(sum_k kErfLarge[k] (|x| - kErfCenter)^k)   (fit of
//                     log(erfc(x)) on [1.2, 3.93])
//   else:             erf(x) = +-1 (erfc(3.93) < 2^-25: float erf rounds to 1).
inline constexpr float kErfSplit = 1.2f;
inline constexpr float kErfBig = 3.93f;
inline constexpr float kErfCenter = 2.4f;
inline constexpr float kErfSmall[7] = {
    1.1283791065216064f,    -0.37612462043762207f,   0.11282321810722351f,  -0.026812676340341568f,
    0.0051238094456493855f, -0.0007526887347921729f, 6.464218313340098e-05f};
inline constexpr float kErfLarge[9] = {
    -7.280974864959717f,    -5.164236545562744f,      -0.9405032396316528f,
    -0.011768355965614319f, 0.0023898438084870577f,   -0.0004693064547609538f,
    8.550203347112983e-05f, -1.4635040315624792e-05f, 1.9640460777736735e-06f};

void vec_binary_avx2(VecBinOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* y,
                     int64_t n);
void vec_exp_avx2(const float* x, float* y, int64_t n);
void vec_erf_avx2(const float* x, float* y, int64_t n);
// y[i] = gelu_erf(x[i] + b[i]) (b may be null).
void vec_gelu_erf_avx2(const float* x, const float* b, float* y, int64_t n);
// exp(x[i] - m) into y; returns the sum of the results (in double, fixed order).
double vec_exp_sub_sum_avx2(const float* x, float m, float* y, int64_t n);
void vec_gelu_tanh_avx2(const float* x, const float* b, float* y, int64_t n);
void vec_moments_avx2(const float* x, int64_t n, double* sum, double* sumsq);
void vec_norm_apply_avx2(const float* x, int64_t n, float m_hi, float m_lo, float inv,
                         const float* g, const float* b, float* y);
void vec_add3_avx2(const float* a, const float* c, const float* d, float* y, int64_t n);
// Row maximum; *has_nan set when the row holds a NaN.
float vec_max_avx2(const float* x, int64_t n, bool* has_nan);
// y[i] = y[i] * s.
void vec_scale_avx2(float* y, float s, int64_t n);
// y[i] = x[i] - s.
void vec_sub_scalar_avx2(const float* x, float s, float* y, int64_t n);

// The AVX-512 loops (vec_avx512.cpp): each element's result bit-identical to the AVX2 loop's, the
// exp_sub_sum, moments and max reductions too (see the file comment).
void vec_binary_avx512(VecBinOp op, const float* a, int64_t sa, const float* b, int64_t sb,
                       float* y, int64_t n);
void vec_exp_avx512(const float* x, float* y, int64_t n);
void vec_erf_avx512(const float* x, float* y, int64_t n);
void vec_gelu_erf_avx512(const float* x, const float* b, float* y, int64_t n);
double vec_exp_sub_sum_avx512(const float* x, float m, float* y, int64_t n);
void vec_gelu_tanh_avx512(const float* x, const float* b, float* y, int64_t n);
void vec_moments_avx512(const float* x, int64_t n, double* sum, double* sumsq);
void vec_norm_apply_avx512(const float* x, int64_t n, float m_hi, float m_lo, float inv,
                           const float* g, const float* b, float* y);
void vec_add3_avx512(const float* a, const float* c, const float* d, float* y, int64_t n);
float vec_max_avx512(const float* x, int64_t n, bool* has_nan);
void vec_scale_avx512(float* y, float s, int64_t n);
void vec_sub_scalar_avx512(const float* x, float s, float* y, int64_t n);

}  // namespace kiln::cpu::fast::detail
