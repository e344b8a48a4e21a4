// Internal to the fast SGEMM (sgemm.cpp): the per-instruction-set tile loops. Each one lives in
// its own source file compiled with that instruction set's flags (flags.cmake); the dispatcher
// calls one only after checking the CPU supports it.
#pragma once

#include <cstdint>

namespace kiln::cpu::fast::detail {

// One packed block: pa holds ceil(mc / MR) micro-panels of MR rows x kc (k-major: element (i, k)
// of a micro-panel at k * MR + i, rows past mc zero), pb ceil(nc / NR) micro-panels of kc x NR
// (element (k, j) at k * NR + j, columns past nc zero). Tile t of the block is row panel
// t / n_jr, column panel t % n_jr, n_jr = ceil(nc / NR); it updates
// C(i, j) = alpha * acc(i, j) + beta * C(i, j) (beta == 0: C(i, j) = alpha * acc(i, j), C unread)
// for the rows and columns of the tile inside mc x nc.
struct TileJob {
  int64_t mc = 0, nc = 0, kc = 0;
  const float* pa = nullptr;
  const float* pb = nullptr;
  float* c = nullptr;
  int64_t ldc = 0;
  float alpha = 1.0f, beta = 0.0f;
  // The packed B block the caller works on next (null: none or not worth it) and its size in
  // 64-byte lines: the tiles ask for it into L2 a few lines per k step, so that a prepacked
  // weight read from memory once per run is found in L2 on the next block's first sweep.
  const float* next_pb = nullptr;
  int64_t next_lines = 0;
};

using TileFn = void (*)(const TileJob& job, int64_t t_begin, int64_t t_end);

constexpr int kGenericMr = 4, kGenericNr = 16;
constexpr int kAvx2Mr = 6, kAvx2Nr = 16;
constexpr int kAvx512Mr = 12, kAvx512Nr = 32;

// Packs one full micro-panel of a row-major A: rows 0 .. MR-1 of A(i, k) = a[i * lda + k],
// k < kc, k-major into dst (element (i, k) at k * MR + i), as the generic packing loop does (pure
// data movement). Null for an instruction set without one.
using PackAFn = void (*)(const float* a, int64_t lda, int64_t kc, float* dst);

void tiles_generic(const TileJob& job, int64_t t_begin, int64_t t_end);
void tiles_avx2(const TileJob& job, int64_t t_begin, int64_t t_end);
void tiles_avx512(const TileJob& job, int64_t t_begin, int64_t t_end);
void pack_a_avx512(const float* a, int64_t lda, int64_t kc, float* dst);

}  // namespace kiln::cpu::fast::detail
