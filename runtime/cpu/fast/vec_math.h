// Vectorised float32 math for the CPU elementwise kernels (Add/Sub/Mul/Div fast paths, Softmax /
// LogSoftmax along a contiguous axis, Erf, Gelu / BiasGelu, the LayerNorm row passes). The loops
// are picked once at run time (AVX-512 F/BW/VL/DQ when the CPU has them, else AVX2 + FMA, else
// portable scalar loops; KILN_VEC_ISA=avx2 or =generic narrows the choice) and give the same result
// for the same input whatever the thread count. The AVX-512 loops give results bit-identical to the
// AVX2 ones (same operations per element, same reduction order; vec_avx512.cpp).
// KILN_CPU_ELEMENTWISE=ref makes the kernels keep to their reference loops (the yardstick the fast
// paths are tested against).
//
// Accuracy: Add/Sub/Mul/Div are exact IEEE float operations (bit-equal to the reference). vec_exp
// is within 2 ulp of std::exp for normal results (denormal results within 1 denormal step, below
// -103.97 gives 0, above 88.72 gives inf, NaN gives NaN). The softmax row sums in double and is
// within a few ulp of the reference's double computation.
#pragma once

#include <cstdint>

namespace kiln::cpu::fast {

enum class VecBinOp { kAdd, kSub, kMul, kDiv };
// Ordered: a later one is a superset of the ones before it.
enum class VecIsa { kGeneric, kAvx2, kAvx512 };

// False when KILN_CPU_ELEMENTWISE=ref (read once) or after set_elementwise_fast_for_testing(false).
bool elementwise_fast_enabled();
// Tests: switches the kernels between the fast paths and the reference loops.
void set_elementwise_fast_for_testing(bool on);
// The loops in use (kAvx2 and kAvx512 both mean the fast vector loops).
VecIsa vec_isa();
// Forces an instruction set (tests); one the CPU lacks falls back to vec_best_isa(). KILN_VEC_ISA
// does not cap it.
void set_vec_isa_for_testing(VecIsa isa);
// The best the CPU has, narrowed by KILN_VEC_ISA.
VecIsa vec_best_isa();
// Whether the CPU can run the loops of `isa` (KILN_VEC_ISA not considered).
bool vec_cpu_supports(VecIsa isa);

// y[i] = a[i * sa] op b[i * sb] for i in [0, n), sa and sb each 0 or 1. y may alias a or b.
void vec_binary(VecBinOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* y,
                int64_t n);
// y[i] = exp(x[i]).
void vec_exp(const float* x, float* y, int64_t n);
// y[i] = erf(x[i]); within 4 ulp of the correctly rounded erf (tested over a dense sweep of
// [-6, 6]); -0 gives -0, +-inf gives +-1, NaN gives NaN.
void vec_erf(const float* x, float* y, int64_t n);
// y[i] = 0.5 v (1 + erf(v / sqrt(2))), v = x[i] + b[i] (b may be null; y may alias x). The same
// float formula as the reference, with vec_erf's erf.
void vec_gelu_erf(const float* x, const float* b, float* y, int64_t n);
// y[i] = 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))), v = x[i] + b[i] (b may be null),
// evaluated as v / (1 + exp(-2 z)) (the same value without 1 + tanh's cancellation; vec_exp's
// exp), so within the reference's own rounding of 1 + tanh of it.
void vec_gelu_tanh(const float* x, const float* b, float* y, int64_t n);
// One pass over a row: *sum = sum x[i], *sumsq = sum x[i]^2, both in double (each square exact),
// in a fixed order (the same for any thread count).
void vec_moments(const float* x, int64_t n, double* sum, double* sumsq);
// y[i] = (x[i] - mean) * inv * g[i] + b[i] (b may be null) in float: x - mean with mean split
// into two floats, one FMA for the scale and shift. A few ulp of the normalised value.
void vec_norm_apply(const float* x, int64_t n, double mean, double inv, const float* g,
                    const float* b, float* y);
// y[i] = float(double(a[i]) + double(c[i]) [+ double(d[i])]) (d may be null): the sum rounded
// once, as the reference skip-add does.
void vec_add3(const float* a, const float* c, const float* d, float* y, int64_t n);
// Softmax (log_softmax false) or LogSoftmax of one contiguous row of n > 0 elements. A row
// holding a NaN, or whose maximum is +-inf, gives NaN everywhere (as the reference does).
void vec_softmax_row(const float* x, float* y, int64_t n, bool log_softmax);

}  // namespace kiln::cpu::fast
