// Fast 8-bit integer GEMM for the CPU path (issues 6 and 9): C = (A - a_zp) x (B - b_zp) with
// int32 results, for uint8 / int8 A and B in any combination (what ONNX MatMulInteger allows),
// per-tensor or per-row A zero points and per-tensor or per-column B zero points. Micro-kernels:
// AVX512-VNNI (vpdpbusd, u8 x s8 in groups of 4), AVX2 (operands widened to int16, vpmaddwd:
// exact for every input, unlike vpmaddubsw whose int16 pair sums saturate) and portable C++,
// chosen at run time. The straightforward loops of runtime/cpu/ops/gemm_ref.h stay the yardstick.
//
// Exactness: the kernels multiply a' = A (uint8) or A + 128 (int8), always in [0, 255], by
// b' = B (int8) or B - 128 (uint8), always in [-128, 127], and correct for the shifts and zero
// points afterwards:
//   sum_k (a' - az')(b' - bz') = sum_k a' b' - bz' rowsum(a') + az' (K bz' - colsum(b'))
// with az' = a_zp (+ 128 for int8 A) and bz' = b_zp (- 128 for uint8 B). Every step is int32
// arithmetic modulo 2^32, so the result equals the reference's wrapping sum bit for bit.
//
// Determinism: K is never split across threads (threads share out output tiles only); integer
// results are in any case identical for every thread count and instruction set.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/core/thread_pool.h"

namespace kiln::cpu::fast {

// Which micro-kernel runs. kAuto takes the best one the CPU supports (the environment variable
// KILN_QGEMM_ISA=generic|avx2|avx512vnni narrows that choice, for tests and measurements).
// kAmx: AMX-INT8 tiles (tdpbusd, 32 x 32 output tiles), where the CPU has them and the OS grants
// the tile state; B packed as for VNNI, A row-major.
enum class QgemmIsa { kAuto, kGeneric, kAvx2, kAvx512Vnni, kAmx };

const char* qgemm_isa_name(QgemmIsa isa);
// True when this CPU can run `isa` (kAuto and kGeneric always can).
bool qgemm_isa_supported(QgemmIsa isa);
// The instruction set kAuto resolves to on this machine.
QgemmIsa qgemm_best_isa();

// One 8-bit matrix operand: element (r, c) at data[r * rs + c * cs], uint8 or int8. A's rows must
// be contiguous (cs == 1); B may have any strides.
struct QOperand {
  const void* data = nullptr;
  bool is_signed = false;
  int64_t rs = 0, cs = 1;
};

// Zero points: one value (stride 0) or one per row of A / column of B (stride 1); null means 0.
struct QZeroPoint {
  const int32_t* values = nullptr;
  int64_t stride = 0;
};

// B (K x N) repacked once into the layout the micro-kernel of `isa` reads (with its column
// sums), so a constant weight matrix is not packed again on every call. Independent of B's zero
// point, which is given with each call.
struct PackedQB {
  struct FreeDeleter {
    void operator()(void* p) const;
  };
  QgemmIsa isa = QgemmIsa::kGeneric;  // resolved, never kAuto
  int64_t K = 0, N = 0;
  bool b_signed = false;
  std::unique_ptr<void, FreeDeleter> data;  // 64-byte aligned
  size_t size_bytes = 0;
  std::vector<int32_t> col_sum;  // sum_k b'(k, n) (b' as in the header comment)
  size_t bytes() const { return size_bytes + col_sum.size() * sizeof(int32_t); }
};

// Null when memory runs out.
std::shared_ptr<const PackedQB> qgemm_prepack_b(int64_t K, int64_t N, const QOperand& b,
                                                QgemmIsa isa = QgemmIsa::kAuto);

// C(m, n) = sum_k (A(m, k) - a_zp[m]) * (B(k, n) - b_zp[n]) modulo 2^32, written to
// c[m * ldc + n], for A M x K and B K x N. `pool` may be null (one thread). An isa this CPU does
// not support falls back to the best supported one. Returns false when scratch memory could not be
// allocated or A's cs is not 1 (C is then unspecified).
bool qgemm(int64_t M, int64_t N, int64_t K, const QOperand& a, QZeroPoint a_zp, const QOperand& b,
           QZeroPoint b_zp, int32_t* c, int64_t ldc, ThreadPool* pool,
           QgemmIsa isa = QgemmIsa::kAuto);

// The same with B prepacked (the isa of `packed` is the one used).
bool qgemm_packed(int64_t M, const QOperand& a, QZeroPoint a_zp, const PackedQB& packed,
                  QZeroPoint b_zp, int32_t* c, int64_t ldc, ThreadPool* pool);

// A float output stage for the GEMM's last step (MatMulIntegerToFloat, DynamicQuantizeMatMul):
// instead of C, Y(m, n) = float(C(m, n)) * scale[n] (+ bias[n]) is written to y[m * ldy + n],
// the product and the sum each rounded to float (no FMA), with the bits of that scalar
// expression on every instruction set. scale holds N values (for a per-tensor A scale times a
// per-column B scale, their products); bias N values or null.
struct QFloatOutput {
  float* y = nullptr;
  int64_t ldy = 0;
  const float* scale = nullptr;
  const float* bias = nullptr;
};

// qgemm / qgemm_packed with the float output stage (the int32 C is not written anywhere; when
// K spans several packed slices the partial sums live in per-thread scratch).
bool qgemm_f32(int64_t M, int64_t N, int64_t K, const QOperand& a, QZeroPoint a_zp,
               const QOperand& b, QZeroPoint b_zp, const QFloatOutput& out, ThreadPool* pool,
               QgemmIsa isa = QgemmIsa::kAuto);
bool qgemm_packed_f32(int64_t M, const QOperand& a, QZeroPoint a_zp, const PackedQB& packed,
                      QZeroPoint b_zp, const QFloatOutput& out, ThreadPool* pool);

// ---- Dynamic quantization helpers (DynamicQuantizeLinear, DynamicQuantizeMatMul) -------------

// The smallest and largest of x[0, n) and 0 (NaNs ignored: *mn <= 0 <= *mx), as the reference
// loop `if (x < mn) mn = x; if (x > mx) mx = x;` from mn = mx = 0 finds them.
void minmax_with_zero(const float* x, int64_t n, float* mn, float* mx,
                      QgemmIsa isa = QgemmIsa::kAuto);

// y[i] = clamp(nearbyint(x[i] / scale) + zp, 0, 255) (round half to even, the division in
// float); NaN quotients give `nan_value`.
void quantize_u8(const float* x, int64_t n, float scale, int32_t zp, uint8_t nan_value, uint8_t* y,
                 QgemmIsa isa = QgemmIsa::kAuto);

}  // namespace kiln::cpu::fast
