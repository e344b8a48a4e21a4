// Internal to the fast int8 GEMM (qgemm.cpp): the per-instruction-set tile loops and
// quantization loops. Each instruction set's loops live in their own source file compiled with
// its flags (flags.cmake); the dispatcher calls one only after checking the CPU supports it.
#pragma once

#include <cstdint>

namespace kiln::cpu::fast::qdetail {

// One packed block, k in groups of KU (4 for VNNI and generic, 2 for AVX2), kp = kc rounded up
// to KU (the padding is zero in both operands, so it adds nothing):
// - pa: ceil(mc / MR) micro-panels of MR rows x kp, element (i, k) at
//   ((k / KU) * MR + i) * KU + k % KU, uint8 a' (int16 for AVX2), rows past mc zero;
// - pb: ceil(nc / NR) micro-panels of kp x NR, element (k, j) at ((k / KU) * NR + j) * KU + k % KU,
//   int8 b' (int16 for AVX2), columns past nc zero.
// Tile t is row panel t / n_jr and column panel t % n_jr (n_jr = ceil(nc / NR)); for its rows i
// and columns j inside mc x nc it computes acc = sum_k a'(i, k) b'(k, j) and writes
//   C(i, j) = acc (+ C(i, j) when accumulate) (+ az[i] cb[j] - rs[i] bz[j] when finish)
// in wrapping int32 arithmetic. az, rs are indexed by the block's rows, cb, bz by its columns;
// rs may be null when every bz is 0. With the float output stage (y set), the finishing slice
// writes Y(i, j) = float(C(i, j)) * scale[j] (+ bias[j]) to y (indexed like c, stride ldy)
// instead of C: a multiply then an add, both rounded, never contracted into an FMA, so every
// instruction set gives the bits of the scalar expression. c then only holds the partial sums
// of earlier slices (it is read only when accumulate is set).
struct TileJob {
  int64_t mc = 0, nc = 0, kp = 0;
  int64_t kpa = 0;  // AMX only: A is packed row-major, rows of kpa (kc rounded up to 64) bytes
  const void* pa = nullptr;
  const void* pb = nullptr;
  int32_t* c = nullptr;
  int64_t ldc = 0;
  bool accumulate = false, finish = false;
  const int32_t* az = nullptr;
  const int32_t* rs = nullptr;
  const int32_t* cb = nullptr;
  const int32_t* bz = nullptr;
  float* y = nullptr;
  int64_t ldy = 0;
  const float* scale = nullptr;  // per column; set with y
  const float* bias = nullptr;   // per column or null
};

using TileFn = void (*)(const TileJob& job, int64_t t_begin, int64_t t_end);

constexpr int kGenericMr = 4, kGenericNr = 16, kGenericKu = 4;
constexpr int kAvx2Mr = 4, kAvx2Nr = 16, kAvx2Ku = 2;
constexpr int kVnniMr = 12, kVnniNr = 32, kVnniKu = 4;
constexpr int kAmxMr = 32, kAmxNr = 32, kAmxKu = 4;
// Bytes past the end of packed B that the AMX loop may read (and multiply by A's zero padding):
// at most 15 rows of 4 k x 32 columns.
constexpr int64_t kAmxSlackBytes = 2048;

void tiles_generic(const TileJob& job, int64_t t_begin, int64_t t_end);
void tiles_avx2(const TileJob& job, int64_t t_begin, int64_t t_end);
void tiles_vnni(const TileJob& job, int64_t t_begin, int64_t t_end);
void tiles_amx(const TileJob& job, int64_t t_begin, int64_t t_end);
// Asks the OS for the AMX tile state (Linux: arch_prctl ARCH_REQ_XCOMP_PERM); false if refused.
bool amx_request_permission();

// The epilogue of one element (wrapping arithmetic), shared by the scalar edge paths. Static:
// each file keeps its own copy, compiled for its instruction set (the linker must not pick one
// built for AVX2 for the baseline code).
static inline int32_t finish_value(uint32_t acc, const TileJob& job, int64_t i, int64_t j,
                                   int32_t old) {
  uint32_t v = acc;
  if (job.accumulate) v += static_cast<uint32_t>(old);
  if (job.finish) {
    v += static_cast<uint32_t>(job.az[i]) * static_cast<uint32_t>(job.cb[j]);
    if (job.rs) v -= static_cast<uint32_t>(job.rs[i]) * static_cast<uint32_t>(job.bz[j]);
  }
  return static_cast<int32_t>(v);
}

// The float output stage of one element (see TileJob).
static inline void store_float(int32_t v, const TileJob& job, int64_t i, int64_t j) {
  float f = static_cast<float>(v) * job.scale[j];
  if (job.bias) f += job.bias[j];
  job.y[i * job.ldy + j] = f;
}

// Stores one finished (or partial) element: to y through the float stage when the job has one
// and this is the finishing slice, else to c.
static inline void store_value(int32_t v, const TileJob& job, int64_t i, int64_t j) {
  if (job.y && job.finish)
    store_float(v, job, i, j);
  else
    job.c[i * job.ldc + j] = v;
}

// AVX-512 versions of minmax_with_zero / quantize_u8 (qgemm.h) over [0, n).
void minmax_avx512(const float* x, int64_t n, float* mn, float* mx);
void quantize_u8_avx512(const float* x, int64_t n, float scale, int32_t zp, uint8_t nan_value,
                        uint8_t* y);

}  // namespace kiln::cpu::fast::qdetail
