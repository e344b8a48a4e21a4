// The fast int8 GEMM's AMX tile loop (32 x 32 output tiles: four 16 x 16 int32 accumulator
// tiles, two A tiles of 16 rows x 64 uint8 k, two B tiles of 16 groups of 4 k x 16 int8 columns;
// tdpbusd sums u8 x s8 products into int32 without saturation, wrapping like vpdpbusd) and the
// request for the AMX tile state (Linux arch_prctl). A is packed row-major (rows of kpa bytes,
// kpa = kc rounded up to 64, zero padded; rows past mc zero); B is the VNNI packing with 32-column
// panels, whose rows of 4 k x 32 columns are 128 bytes apart, so a 16-column B tile is that
// memory with a stride of 128. The last k step may read B rows past kp: those meet A's zero
// padding (their products are 0) and stay inside the buffers, which keep kAmxSlackBytes of slack.
// Compiled with the AMX / AVX-512 target pragma below; only called after the dispatcher saw the
// CPU and the OS allow AMX. No standard-library template is used here (see qgemm_avx512.cpp).
#if defined(__clang__)
#pragma clang attribute push(                                                          \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,amx-tile,amx-int8"))), \
    apply_to = function)
#define KILN_FAST_POP_TARGET 1
#elif defined(__GNUC__)
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,amx-tile,amx-int8")
#endif
#include <immintrin.h>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "runtime/cpu/fast/qgemm_kernels.h"

namespace kiln::cpu::fast::qdetail {
namespace {

constexpr int MR = kAmxMr, NR = kAmxNr, KU = kAmxKu;
constexpr int NV = NR / 16;

inline int64_t min64(int64_t x, int64_t y) {
  return x < y ? x : y;
}

inline __mmask16 lane_mask(int64_t n) {
  if (n >= 16) return static_cast<__mmask16>(0xFFFF);
  if (n <= 0) return 0;
  return static_cast<__mmask16>((1u << n) - 1u);
}

struct alignas(64) TileConfig {
  uint8_t palette = 0;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// The epilogue of one 32 x 32 tile whose products are in acc (row stride 32), as the VNNI one.
void finish_tile(const TileJob& job, const int32_t* acc, int64_t i0, int64_t j0, int64_t m,
                 int64_t n) {
  int32_t* c = job.c ? job.c + i0 * job.ldc + j0 : nullptr;
  const bool to_float = job.y && job.finish;
  __mmask16 mask[NV];
  __m512i cb[NV], bz[NV];
  __m512 sc[NV], bi[NV];
  for (int v = 0; v < NV; ++v) {
    mask[v] = lane_mask(n - 16 * v);
    cb[v] = _mm512_maskz_loadu_epi32(mask[v], job.cb + j0 + 16 * v);
    bz[v] = _mm512_maskz_loadu_epi32(mask[v], job.bz + j0 + 16 * v);
    sc[v] =
        to_float ? _mm512_maskz_loadu_ps(mask[v], job.scale + j0 + 16 * v) : _mm512_setzero_ps();
    bi[v] = to_float && job.bias ? _mm512_maskz_loadu_ps(mask[v], job.bias + j0 + 16 * v)
                                 : _mm512_setzero_ps();
  }
  for (int64_t i = 0; i < m; ++i) {
    int32_t* ci = c ? c + i * job.ldc : nullptr;
    __m512i az = _mm512_setzero_si512(), rs = _mm512_setzero_si512();
    if (job.finish) {
      az = _mm512_set1_epi32(job.az[i0 + i]);
      if (job.rs) rs = _mm512_set1_epi32(job.rs[i0 + i]);
    }
    for (int v = 0; v < NV; ++v) {
      __m512i x = _mm512_load_si512(acc + i * NR + 16 * v);
      if (job.accumulate) x = _mm512_add_epi32(x, _mm512_maskz_loadu_epi32(mask[v], ci + 16 * v));
      if (job.finish) {
        x = _mm512_add_epi32(x, _mm512_mullo_epi32(az, cb[v]));
        if (job.rs) x = _mm512_sub_epi32(x, _mm512_mullo_epi32(rs, bz[v]));
      }
      if (to_float) {
        // Multiply, then add: two roundings, as the scalar store_float.
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(x), sc[v]);
        if (job.bias) f = _mm512_add_ps(f, bi[v]);
        _mm512_mask_storeu_ps(job.y + (i0 + i) * job.ldy + j0 + 16 * v, mask[v], f);
      } else {
        _mm512_mask_storeu_epi32(ci + 16 * v, mask[v], x);
      }
    }
  }
}

}  // namespace

void tiles_amx(const TileJob& job, int64_t t_begin, int64_t t_end) {
  TileConfig cfg;
  cfg.palette = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
  alignas(64) int32_t acc[MR * NR];
  const int64_t n_jr = (job.nc + NR - 1) / NR;
  const int64_t kpa = job.kpa;
  const uint8_t* pa = static_cast<const uint8_t*>(job.pa);
  const int8_t* pb = static_cast<const int8_t*>(job.pb);
  for (int64_t t = t_begin; t < t_end; ++t) {
    const int64_t ir = t / n_jr, jr = t % n_jr;
    const int64_t m = min64(MR, job.mc - ir * MR);
    const int64_t n = min64(NR, job.nc - jr * NR);
    const uint8_t* a = pa + ir * MR * kpa;
    const int8_t* b = pb + jr * NR * job.kp;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t k0 = 0; k0 < kpa; k0 += 64) {
      const int8_t* bk = b + (k0 / KU) * NR * KU;
      _tile_loadd(4, a + k0, kpa);
      _tile_loadd(5, a + 16 * kpa + k0, kpa);
      _tile_loadd(6, bk, NR * KU);
      _tile_loadd(7, bk + 64, NR * KU);
      _tile_dpbusd(0, 4, 6);
      _tile_dpbusd(1, 4, 7);
      _tile_dpbusd(2, 5, 6);
      _tile_dpbusd(3, 5, 7);
    }
    _tile_stored(0, acc, NR * 4);
    _tile_stored(1, acc + 16, NR * 4);
    _tile_stored(2, acc + 16 * NR, NR * 4);
    _tile_stored(3, acc + 16 * NR + 16, NR * 4);
    finish_tile(job, acc, ir * MR, jr * NR, m, n);
  }
  _tile_release();
}

bool amx_request_permission() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

}  // namespace kiln::cpu::fast::qdetail

#if defined(KILN_FAST_POP_TARGET)
#pragma clang attribute pop
#endif
