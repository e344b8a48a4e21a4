// Fast fp32 GEMM for the CPU path (issue 9): BLIS-style packing of A and B into cache-sized
// blocks and an MR x NR register micro-kernel per instruction set (AVX-512 12x32, AVX2+FMA 6x16,
// and a portable C++ 4x16), chosen at run time. MatMul and Gemm use it for float32; the plain
// loops of runtime/cpu/ops/gemm_ref.h stay as the yardstick it is tested against.
//
// Determinism: K is cut into fixed KC blocks starting at k = 0 and never split across threads;
// threads only share out output tiles. Every C element therefore sees the same operations in the
// same order whatever the thread count (bit-identical results for 1, 2, ... threads), for a given
// instruction set.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/core/thread_pool.h"

namespace kiln::cpu::fast {

// Which micro-kernel runs. kAuto takes the best one the CPU supports (the environment variable
// KILN_SGEMM_ISA=generic|avx2|avx512 narrows that choice, for tests and measurements).
enum class SgemmIsa { kAuto, kGeneric, kAvx2, kAvx512 };

const char* sgemm_isa_name(SgemmIsa isa);
// True when this CPU can run `isa` (kAuto and kGeneric always can).
bool sgemm_isa_supported(SgemmIsa isa);
// The instruction set kAuto resolves to on this machine.
SgemmIsa sgemm_best_isa();

// B(k, n) = b[k * b_rs + n * b_cs] for k < K, n < N, repacked once into the layout the micro-kernel
// of `isa` reads, so a constant weight matrix is not packed again on every call.
struct PackedB {
  struct FreeDeleter {
    void operator()(float* p) const;
  };
  SgemmIsa isa = SgemmIsa::kGeneric;  // resolved, never kAuto
  int64_t K = 0, N = 0;
  std::unique_ptr<float[], FreeDeleter> data;  // 64-byte aligned
  size_t size = 0;                             // floats in data
  size_t bytes() const { return size * sizeof(float); }
};

std::shared_ptr<const PackedB> prepack_b(int64_t K, int64_t N, const float* b, int64_t b_rs,
                                         int64_t b_cs, SgemmIsa isa = SgemmIsa::kAuto);

// C = alpha * A * B + beta * C, with A(m, k) = a[m * a_rs + k * a_cs] (M x K), B as above (K x N)
// and C(m, n) = c[m * ldc + n]. beta == 0 ignores C's previous contents (NaN included). A
// transpose is a swap of the two strides. `pool` may be null (one thread). An isa this CPU does
// not support falls back to the best supported one.
void sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t a_rs, int64_t a_cs,
           const float* b, int64_t b_rs, int64_t b_cs, float beta, float* c, int64_t ldc,
           ThreadPool* pool, SgemmIsa isa = SgemmIsa::kAuto);

// The same with B prepacked (its K, N and isa must match; the isa of `packed` is the one used).
void sgemm_packed(int64_t M, float alpha, const float* a, int64_t a_rs, int64_t a_cs,
                  const PackedB& packed, float beta, float* c, int64_t ldc, ThreadPool* pool);

}  // namespace kiln::cpu::fast
