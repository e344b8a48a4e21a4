// The fast int8 GEMM's dispatcher and blocked driver (baseline x86-64 code: no instruction-set
// flags here). It picks the micro-kernel at run time, packs A and B (shifted to u8 x s8) into
// cache-sized blocks, shares out output tiles over the thread pool and applies the zero-point
// corrections in the last K slice; the portable 4 x 16 micro-kernel and the portable
// quantization loops live here too.
//
// Blocking as in sgemm.cpp: for each row block of A (up to kMc rows) and each KC-deep slice of
// K, the A block is packed once (shared by all threads); for each NC-wide column block, B's block
// is packed (skipped when B was prepacked) and the (row panel, column panel) tiles are split in
// contiguous ranges over the threads. K is never split across threads.
#include "runtime/cpu/fast/qgemm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "runtime/cpu/fast/qgemm_kernels.h"
#include "runtime/cpu/fast/weight_alloc.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#endif

namespace kiln::cpu::fast {

namespace qdetail {

// Portable micro-kernel: plain loops over u8 a' and s8 b' in groups of 4 k.
void tiles_generic(const TileJob& job, int64_t t_begin, int64_t t_end) {
  constexpr int MR = kGenericMr, NR = kGenericNr, KU = kGenericKu;
  const int64_t n_jr = (job.nc + NR - 1) / NR;
  const int64_t kq = job.kp / KU;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const int64_t ir = t / n_jr, jr = t % n_jr;
    const int64_t m = std::min<int64_t>(MR, job.mc - ir * MR);
    const int64_t n = std::min<int64_t>(NR, job.nc - jr * NR);
    const uint8_t* a = static_cast<const uint8_t*>(job.pa) + ir * MR * job.kp;
    const int8_t* b = static_cast<const int8_t*>(job.pb) + jr * NR * job.kp;
    int32_t acc[MR][NR] = {};  // |sum| of 4 products < 2^17: int32 until the wrapping add
    uint32_t total[MR][NR] = {};
    for (int64_t q = 0; q < kq; ++q) {
      for (int i = 0; i < MR; ++i) {
        const uint8_t* ai = a + i * KU;
        for (int j = 0; j < NR; ++j) {
          const int8_t* bj = b + j * KU;
          acc[i][j] = ai[0] * bj[0] + ai[1] * bj[1] + ai[2] * bj[2] + ai[3] * bj[3];
          total[i][j] += static_cast<uint32_t>(acc[i][j]);
        }
      }
      a += MR * KU;
      b += NR * KU;
    }
    const int64_t i0 = ir * MR, j0 = jr * NR;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        const int32_t old = job.accumulate ? job.c[(i0 + i) * job.ldc + j0 + j] : 0;
        store_value(finish_value(total[i][j], job, i0 + i, j0 + j, old), job, i0 + i, j0 + j);
      }
    }
  }
}

}  // namespace qdetail

namespace {

using qdetail::TileFn;
using qdetail::TileJob;

constexpr int64_t kKc = 1024;  // depth of a packed slice (a multiple of every KU)
constexpr int64_t kNc = 512;   // columns of a packed B block (<= 1 MiB for int16 B)
constexpr int64_t kMc = 1024;  // most rows of a packed A block

struct KernelInfo {
  QgemmIsa isa;
  int64_t mr, nr, ku;
  bool wide;  // int16 elements (AVX2) instead of uint8 A / int8 B
  TileFn fn;
  bool rowmajor_a = false;  // AMX: A packed as rows of kc rounded up to 64 bytes
};

KernelInfo kernel_info(QgemmIsa isa) {
  using namespace qdetail;
  switch (isa) {
    case QgemmIsa::kAmx:
      return {isa, kAmxMr, kAmxNr, kAmxKu, false, tiles_amx, true};
    case QgemmIsa::kAvx512Vnni:
      return {isa, kVnniMr, kVnniNr, kVnniKu, false, tiles_vnni};
    case QgemmIsa::kAvx2:
      return {isa, kAvx2Mr, kAvx2Nr, kAvx2Ku, true, tiles_avx2};
    default:
      return {QgemmIsa::kGeneric, kGenericMr, kGenericNr, kGenericKu, false, tiles_generic};
  }
}

bool cpu_supports(QgemmIsa isa);

// AMX-TILE and AMX-INT8 (CPUID 7.0 EDX bits 24, 25), the tile state enabled in XCR0 (bits 17,
// 18), AVX512-VNNI for the epilogue, and the OS's permission (asked once).
bool amx_usable() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  static const bool ok = [] {
    if (!cpu_supports(QgemmIsa::kAvx512Vnni)) return false;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!(d & (1u << 24)) || !(d & (1u << 25))) return false;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return false;
    return qdetail::amx_request_permission();
  }();
  return ok;
#else
  return false;
#endif
}

bool cpu_supports(QgemmIsa isa) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  switch (isa) {
    case QgemmIsa::kAmx:
      return amx_usable();
    case QgemmIsa::kAvx512Vnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    case QgemmIsa::kAvx2:
      return __builtin_cpu_supports("avx2");
    default:
      return true;
  }
#else
  return isa == QgemmIsa::kGeneric || isa == QgemmIsa::kAuto;
#endif
}

bool cpu_has_avx512_quant() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#else
  return false;
#endif
}

QgemmIsa detect_best() {
  QgemmIsa best = QgemmIsa::kGeneric;
  if (cpu_supports(QgemmIsa::kAvx2)) best = QgemmIsa::kAvx2;
  if (cpu_supports(QgemmIsa::kAvx512Vnni)) best = QgemmIsa::kAvx512Vnni;
  if (best == QgemmIsa::kAvx512Vnni && cpu_supports(QgemmIsa::kAmx)) best = QgemmIsa::kAmx;
  // KILN_QGEMM_ISA narrows the choice (never widens it past what the CPU has).
  if (const char* env = std::getenv("KILN_QGEMM_ISA")) {
    const std::string v(env);
    if (v == "generic") best = QgemmIsa::kGeneric;
    if (v == "avx2" && (best == QgemmIsa::kAvx512Vnni || best == QgemmIsa::kAmx))
      best = QgemmIsa::kAvx2;
    if (v == "avx512vnni" && best == QgemmIsa::kAmx) best = QgemmIsa::kAvx512Vnni;
  }
  return best;
}

QgemmIsa resolve(QgemmIsa isa) {
  if (isa == QgemmIsa::kAuto || !cpu_supports(isa)) return qgemm_best_isa();
  return isa;
}

int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

// 64-byte aligned scratch that grows on demand and is kept per thread.
struct Scratch {
  void* p = nullptr;
  size_t n = 0;
  ~Scratch() { std::free(p); }
  void* get(size_t bytes) {
    if (bytes > n) {
      std::free(p);
      const size_t rounded = (bytes + 63) / 64 * 64;
      p = std::aligned_alloc(64, rounded);
      n = p ? rounded : 0;
    }
    return p;
  }
};

Scratch& scratch_a() {
  thread_local Scratch s;
  return s;
}
Scratch& scratch_b() {
  thread_local Scratch s;
  return s;
}
// The int32 partial sums of the float output stage (several K slices).
Scratch& scratch_c() {
  thread_local Scratch s;
  return s;
}

// b' of element (k, n): int8 B as is, uint8 B minus 128.
inline int32_t b_prime(const QOperand& b, int64_t k, int64_t n) {
  const int64_t at = k * b.rs + n * b.cs;
  return b.is_signed ? static_cast<const int8_t*>(b.data)[at]
                     : static_cast<int32_t>(static_cast<const uint8_t*>(b.data)[at]) - 128;
}

// Packs B(pc .. pc+kc, jc .. jc+nc) as NR-wide micro-panels [jr_begin, jr_end) into dst.
template <typename T, int KU>
void pack_b_typed(const QOperand& b, int64_t pc, int64_t kc, int64_t jc, int64_t nc, int64_t nr,
                  int64_t jr_begin, int64_t jr_end, T* dst) {
  const int64_t kp = round_up(kc, KU);
  for (int64_t jr = jr_begin; jr < jr_end; ++jr) {
    T* d = dst + jr * nr * kp;
    const int64_t j0 = jc + jr * nr;
    const int64_t nn = std::min(nr, nc - jr * nr);
    std::memset(d, 0, static_cast<size_t>(nr * kp) * sizeof(T));
    if (b.cs == 1) {
      int64_t k_done = 0;
#if defined(__SSE2__)
      if constexpr (sizeof(T) == 1 && KU == 4) {
        // Whole groups of 4 rows and 16 columns: interleave the rows' bytes with SSE2 unpacks.
        const __m128i flip = _mm_set1_epi8(b.is_signed ? 0 : static_cast<char>(0x80));
        const int64_t n16 = nn / 16 * 16;
        for (; n16 > 0 && k_done + 4 <= kc; k_done += 4) {
          const uint8_t* s0 = static_cast<const uint8_t*>(b.data) + (pc + k_done) * b.rs + j0;
          T* dq = d + (k_done / 4) * nr * 4;
          for (int64_t j = 0; j < n16; j += 16) {
            auto row = [&](int r) {
              return _mm_xor_si128(
                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(s0 + r * b.rs + j)), flip);
            };
            const __m128i r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3);
            const __m128i t0 = _mm_unpacklo_epi8(r0, r1), t1 = _mm_unpackhi_epi8(r0, r1);
            const __m128i t2 = _mm_unpacklo_epi8(r2, r3), t3 = _mm_unpackhi_epi8(r2, r3);
            __m128i* o = reinterpret_cast<__m128i*>(dq + j * 4);
            _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(t0, t2));
            _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(t0, t2));
            _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(t1, t3));
            _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(t1, t3));
          }
          // The columns past the last group of 16.
          for (int64_t kk = k_done; kk < k_done + 4; ++kk) {
            T* dk = d + (kk / KU) * nr * KU + kk % KU;
            for (int64_t j = n16; j < nn; ++j)
              dk[j * KU] = static_cast<T>(b_prime(b, pc + kk, j0 + j));
          }
        }
      }
#endif
      for (int64_t k = k_done; k < kc; ++k) {
        T* dk = d + (k / KU) * nr * KU + k % KU;
        const int64_t at = (pc + k) * b.rs + j0;
        if (b.is_signed) {
          const int8_t* s = static_cast<const int8_t*>(b.data) + at;
          for (int64_t j = 0; j < nn; ++j) dk[j * KU] = static_cast<T>(s[j]);
        } else {
          const uint8_t* s = static_cast<const uint8_t*>(b.data) + at;
          for (int64_t j = 0; j < nn; ++j)
            dk[j * KU] = static_cast<T>(static_cast<int>(s[j]) - 128);
        }
      }
    } else {
      for (int64_t j = 0; j < nn; ++j)
        for (int64_t k = 0; k < kc; ++k)
          d[((k / KU) * nr + j) * KU + k % KU] = static_cast<T>(b_prime(b, pc + k, j0 + j));
    }
  }
}

void pack_b_panels(const KernelInfo& ki, const QOperand& b, int64_t pc, int64_t kc, int64_t jc,
                   int64_t nc, int64_t jr_begin, int64_t jr_end, void* dst) {
  if (ki.wide)
    pack_b_typed<int16_t, 2>(b, pc, kc, jc, nc, ki.nr, jr_begin, jr_end,
                             static_cast<int16_t*>(dst));
  else
    pack_b_typed<int8_t, 4>(b, pc, kc, jc, nc, ki.nr, jr_begin, jr_end, static_cast<int8_t*>(dst));
}

// Packs A(ic .. ic+mc, pc .. pc+kc) (rows contiguous: cs == 1) as MR-row micro-panels
// [ir_begin, ir_end) into dst (panel ir at dst + (ir - ir_begin) * mr * kp).
template <typename T, int KU>
void pack_a_typed(const QOperand& a, int64_t ic, int64_t mc, int64_t pc, int64_t kc, int64_t mr,
                  int64_t ir_begin, int64_t ir_end, T* dst) {
  const int64_t kp = round_up(kc, KU);
  const uint8_t flip = a.is_signed ? 0x80 : 0x00;  // int8 x + 128 == its bits ^ 0x80 as uint8
  for (int64_t ir = ir_begin; ir < ir_end; ++ir) {
    T* d = dst + (ir - ir_begin) * mr * kp;
    const int64_t i0 = ic + ir * mr;
    const int64_t mm = std::min(mr, mc - ir * mr);
    if (mm < mr || kp != kc) std::memset(d, 0, static_cast<size_t>(mr * kp) * sizeof(T));
    for (int64_t i = 0; i < mm; ++i) {
      const uint8_t* s = static_cast<const uint8_t*>(a.data) + (i0 + i) * a.rs + pc;
      T* di = d + i * KU;
      if constexpr (sizeof(T) == 1 && KU == 4) {
        // Whole groups of 4 bytes move as one 32-bit word.
        const uint32_t flip4 = flip * 0x01010101u;
        const int64_t full = kc / 4;
        for (int64_t q = 0; q < full; ++q) {
          uint32_t w;
          std::memcpy(&w, s + 4 * q, 4);
          w ^= flip4;
          std::memcpy(di + q * mr * 4, &w, 4);
        }
        for (int64_t k = full * 4; k < kc; ++k)
          di[(k / 4) * mr * 4 + k % 4] = static_cast<T>(s[k] ^ flip);
      } else {
        for (int64_t k = 0; k < kc; ++k)
          di[(k / KU) * mr * KU + k % KU] = static_cast<T>(s[k] ^ flip);
      }
    }
  }
}

// AMX: A(ic .. ic+mc, pc .. pc+kc) as MR-row panels [ir_begin, ir_end) of rows kpa bytes long
// (a' = A, or A ^ 0x80 for int8; zero past kc and past mc).
void pack_a_rows(const QOperand& a, int64_t ic, int64_t mc, int64_t pc, int64_t kc, int64_t mr,
                 int64_t kpa, int64_t ir_begin, int64_t ir_end, uint8_t* dst) {
  for (int64_t ir = ir_begin; ir < ir_end; ++ir) {
    uint8_t* d = dst + (ir - ir_begin) * mr * kpa;
    const int64_t mm = std::min(mr, mc - ir * mr);
    for (int64_t i = 0; i < mr; ++i) {
      uint8_t* di = d + i * kpa;
      if (i >= mm) {
        std::memset(di, 0, static_cast<size_t>(kpa));
        continue;
      }
      const uint8_t* s = static_cast<const uint8_t*>(a.data) + (ic + ir * mr + i) * a.rs + pc;
      if (a.is_signed) {
        for (int64_t k = 0; k < kc; ++k) di[k] = static_cast<uint8_t>(s[k] ^ 0x80);
      } else {
        std::memcpy(di, s, static_cast<size_t>(kc));
      }
      if (kpa > kc) std::memset(di + kc, 0, static_cast<size_t>(kpa - kc));
    }
  }
}

void pack_a_panels(const KernelInfo& ki, const QOperand& a, int64_t ic, int64_t mc, int64_t pc,
                   int64_t kc, int64_t ir_begin, int64_t ir_end, void* dst) {
  if (ki.rowmajor_a)
    pack_a_rows(a, ic, mc, pc, kc, ki.mr, round_up(kc, 64), ir_begin, ir_end,
                static_cast<uint8_t*>(dst));
  else if (ki.wide)
    pack_a_typed<int16_t, 2>(a, ic, mc, pc, kc, ki.mr, ir_begin, ir_end,
                             static_cast<int16_t*>(dst));
  else
    pack_a_typed<uint8_t, 4>(a, ic, mc, pc, kc, ki.mr, ir_begin, ir_end,
                             static_cast<uint8_t*>(dst));
}

// sum_k a'(m, k) for rows [begin, end) (a' = A, or A + 128 for int8).
void row_sums(const QOperand& a, int64_t K, int64_t begin, int64_t end, int32_t* out) {
  for (int64_t m = begin; m < end; ++m) {
    const uint8_t* s = static_cast<const uint8_t*>(a.data) + m * a.rs;
    uint32_t sum = 0;
    if (a.is_signed) {
      for (int64_t k = 0; k < K; ++k) sum += static_cast<uint8_t>(s[k] ^ 0x80);
    } else {
      for (int64_t k = 0; k < K; ++k) sum += s[k];
    }
    out[m] = static_cast<int32_t>(sum);
  }
}

// sum_k b'(k, n) for every column.
void col_sums(const QOperand& b, int64_t K, int64_t N, int32_t* out) {
  std::vector<uint32_t> acc(static_cast<size_t>(N), 0);
  if (b.cs == 1) {
    for (int64_t k = 0; k < K; ++k) {
      if (b.is_signed) {
        const int8_t* s = static_cast<const int8_t*>(b.data) + k * b.rs;
        for (int64_t n = 0; n < N; ++n) acc[n] += static_cast<uint32_t>(s[n]);
      } else {
        const uint8_t* s = static_cast<const uint8_t*>(b.data) + k * b.rs;
        for (int64_t n = 0; n < N; ++n) acc[n] += static_cast<uint32_t>(s[n]) - 128u;
      }
    }
  } else {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) acc[n] += static_cast<uint32_t>(b_prime(b, k, n));
  }
  for (int64_t n = 0; n < N; ++n) out[n] = static_cast<int32_t>(acc[n]);
}

void run_parallel(ThreadPool* pool, int64_t n, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn) {
  if (pool && pool->num_threads() > 1)
    pool->parallel_for(n, grain, fn);
  else if (n > 0)
    fn(0, n);
}

// Bytes of one packed element.
int64_t elem_bytes(const KernelInfo& ki) {
  return ki.wide ? 2 : 1;
}

// Where packed B's (jc, pc) block starts in a PackedQB (in elements).
int64_t packed_offset(int64_t K, int64_t N, const KernelInfo& ki, int64_t jc, int64_t pc) {
  const int64_t ncb = std::min(kNc, N - jc);
  const int64_t panels = (ncb + ki.nr - 1) / ki.nr;
  return jc * round_up(K, ki.ku) + panels * ki.nr * pc;  // full blocks are kNc (a multiple of nr)
}

// `fo` non-null: the float output stage (c and ldc are then ignored).
bool driver(const KernelInfo& ki, int64_t M, int64_t N, int64_t K, const QOperand& a,
            QZeroPoint a_zp, const QOperand& b, const PackedQB* packed, QZeroPoint b_zp, int32_t* c,
            int64_t ldc, ThreadPool* pool, const QFloatOutput* fo = nullptr) {
  if (M <= 0 || N <= 0) return true;
  if (a.cs != 1) return false;
  if (K <= 0) {
    for (int64_t m = 0; m < M; ++m) {
      if (fo) {
        for (int64_t n = 0; n < N; ++n) {
          float f = 0.0f * fo->scale[n];
          if (fo->bias) f += fo->bias[n];
          fo->y[m * fo->ldy + n] = f;
        }
      } else {
        std::fill(c + m * ldc, c + m * ldc + N, 0);
      }
    }
    return true;
  }
  if (fo) {
    // Partial sums of the K slices before the last; one slice never touches C.
    ldc = N;
    c = nullptr;
    if (K > kKc) {
      c = static_cast<int32_t*>(scratch_c().get(static_cast<size_t>(M * N) * sizeof(int32_t)));
      if (!c) return false;
    }
  }
  const int64_t mr = ki.mr, nr = ki.nr;
  // Small products are not worth waking the pool for.
  const double ops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  if (ops < 4.0e6) pool = nullptr;
  const int threads = pool ? pool->num_threads() : 1;
  // Column terms: bz' and cb = K bz' - colsum(b').
  std::vector<int32_t> bz(static_cast<size_t>(N)), cb(static_cast<size_t>(N));
  if (packed) {
    std::copy(packed->col_sum.begin(), packed->col_sum.end(), cb.begin());
  } else {
    col_sums(b, K, N, cb.data());
  }
  bool any_bz = false;
  const int32_t b_shift = b.is_signed ? 0 : -128;
  for (int64_t n = 0; n < N; ++n) {
    const int32_t z = (b_zp.values ? b_zp.values[n * b_zp.stride] : 0) + b_shift;
    bz[n] = z;
    any_bz = any_bz || z != 0;
    cb[n] = static_cast<int32_t>(static_cast<uint32_t>(K) * static_cast<uint32_t>(z) -
                                 static_cast<uint32_t>(cb[n]));
  }
  // Row terms: az' and (only when some bz' is not 0) rowsum(a').
  std::vector<int32_t> az(static_cast<size_t>(M)), rs;
  const int32_t a_shift = a.is_signed ? 128 : 0;
  for (int64_t m = 0; m < M; ++m)
    az[m] = (a_zp.values ? a_zp.values[m * a_zp.stride] : 0) + a_shift;
  if (any_bz) {
    rs.resize(static_cast<size_t>(M));
    run_parallel(pool, M, std::max<int64_t>(1, M / threads),
                 [&](int64_t rb, int64_t re) { row_sums(a, K, rb, re, rs.data()); });
  }
  const int64_t eb = elem_bytes(ki);
  // Row blocks of equal size (a multiple of MR), so no block is a thin leftover.
  const int64_t n_ic = (M + kMc - 1) / kMc;
  const int64_t mc_step = ((M + n_ic - 1) / n_ic + mr - 1) / mr * mr;
  for (int64_t ic = 0; ic < M; ic += mc_step) {
    const int64_t mc = std::min(mc_step, M - ic);
    const int64_t n_ir = (mc + mr - 1) / mr;
    for (int64_t pc = 0; pc < K; pc += kKc) {
      const int64_t kc = std::min(kKc, K - pc);
      const int64_t kp = round_up(kc, ki.ku);
      const int64_t kpa = ki.rowmajor_a ? round_up(kc, 64) : kp;  // A's packed depth
      // The A block is packed once and shared by every column block and thread.
      char* pa = static_cast<char*>(scratch_a().get(static_cast<size_t>(n_ir * mr * kpa * eb)));
      if (!pa) return false;
      run_parallel(pool, n_ir, std::max<int64_t>(1, n_ir / threads), [&](int64_t rb, int64_t re) {
        pack_a_panels(ki, a, ic, mc, pc, kc, rb, re, pa + rb * mr * kpa * eb);
      });
      for (int64_t jc = 0; jc < N; jc += kNc) {
        const int64_t nc = std::min(kNc, N - jc);
        const int64_t n_jr = (nc + nr - 1) / nr;
        const void* pb;
        if (packed) {
          pb = static_cast<const char*>(packed->data.get()) + packed_offset(K, N, ki, jc, pc) * eb;
        } else {
          void* buf = scratch_b().get(static_cast<size_t>(n_jr * nr * kp * eb) +
                                      (ki.rowmajor_a ? qdetail::kAmxSlackBytes : 0));
          if (!buf) return false;
          run_parallel(
              pool, n_jr, std::max<int64_t>(1, n_jr / threads),
              [&](int64_t jb, int64_t je) { pack_b_panels(ki, b, pc, kc, jc, nc, jb, je, buf); });
          pb = buf;
        }
        TileJob job;
        job.mc = mc;
        job.nc = nc;
        job.kp = kp;
        job.kpa = kpa;
        job.pa = pa;
        job.pb = pb;
        job.c = c ? c + ic * ldc + jc : nullptr;
        job.ldc = ldc;
        if (fo) {
          job.y = fo->y + ic * fo->ldy + jc;
          job.ldy = fo->ldy;
          job.scale = fo->scale + jc;
          job.bias = fo->bias ? fo->bias + jc : nullptr;
        }
        job.accumulate = pc > 0;
        job.finish = pc + kc >= K;
        job.az = az.data() + ic;
        job.rs = any_bz ? rs.data() + ic : nullptr;
        job.cb = cb.data() + jc;
        job.bz = bz.data() + jc;
        const int64_t tiles = n_ir * n_jr;
        run_parallel(pool, tiles, std::max<int64_t>(1, tiles / threads),
                     [&](int64_t tb, int64_t te) { ki.fn(job, tb, te); });
      }
    }
  }
  return true;
}

}  // namespace

void PackedQB::FreeDeleter::operator()(void* p) const {
  std::free(p);
}

const char* qgemm_isa_name(QgemmIsa isa) {
  switch (isa) {
    case QgemmIsa::kAuto:
      return "auto";
    case QgemmIsa::kGeneric:
      return "generic";
    case QgemmIsa::kAvx2:
      return "avx2";
    case QgemmIsa::kAvx512Vnni:
      return "avx512vnni";
    case QgemmIsa::kAmx:
      return "amx";
  }
  return "?";
}

bool qgemm_isa_supported(QgemmIsa isa) {
  return cpu_supports(isa);
}

QgemmIsa qgemm_best_isa() {
  static const QgemmIsa best = detect_best();
  return best;
}

std::shared_ptr<const PackedQB> qgemm_prepack_b(int64_t K, int64_t N, const QOperand& b,
                                                QgemmIsa isa) {
  auto p = std::make_shared<PackedQB>();
  const KernelInfo ki = kernel_info(resolve(isa));
  p->isa = ki.isa;
  p->K = std::max<int64_t>(K, 0);
  p->N = std::max<int64_t>(N, 0);
  p->b_signed = b.is_signed;
  if (p->K == 0 || p->N == 0) return p;
  int64_t total = 0;
  for (int64_t jc = 0; jc < N; jc += kNc) {
    const int64_t ncb = std::min(kNc, N - jc);
    total += (ncb + ki.nr - 1) / ki.nr * ki.nr * round_up(K, ki.ku);
  }
  const size_t bytes = (static_cast<size_t>(total * elem_bytes(ki)) +
                        (ki.rowmajor_a ? qdetail::kAmxSlackBytes : 0) + 63) /
                       64 * 64;
  p->data.reset(alloc_weights(bytes));
  if (!p->data) return nullptr;
  p->size_bytes = bytes;
  for (int64_t jc = 0; jc < N; jc += kNc) {
    const int64_t nc = std::min(kNc, N - jc);
    const int64_t n_jr = (nc + ki.nr - 1) / ki.nr;
    for (int64_t pc = 0; pc < K; pc += kKc) {
      const int64_t kc = std::min(kKc, K - pc);
      pack_b_panels(
          ki, b, pc, kc, jc, nc, 0, n_jr,
          static_cast<char*>(p->data.get()) + packed_offset(K, N, ki, jc, pc) * elem_bytes(ki));
    }
  }
  p->col_sum.resize(static_cast<size_t>(N));
  col_sums(b, K, N, p->col_sum.data());
  return p;
}

bool qgemm(int64_t M, int64_t N, int64_t K, const QOperand& a, QZeroPoint a_zp, const QOperand& b,
           QZeroPoint b_zp, int32_t* c, int64_t ldc, ThreadPool* pool, QgemmIsa isa) {
  return driver(kernel_info(resolve(isa)), M, N, K, a, a_zp, b, nullptr, b_zp, c, ldc, pool);
}

bool qgemm_packed(int64_t M, const QOperand& a, QZeroPoint a_zp, const PackedQB& packed,
                  QZeroPoint b_zp, int32_t* c, int64_t ldc, ThreadPool* pool) {
  QOperand b;
  b.is_signed = packed.b_signed;
  return driver(kernel_info(packed.isa), M, packed.N, packed.K, a, a_zp, b, &packed, b_zp, c, ldc,
                pool);
}

bool qgemm_f32(int64_t M, int64_t N, int64_t K, const QOperand& a, QZeroPoint a_zp,
               const QOperand& b, QZeroPoint b_zp, const QFloatOutput& out, ThreadPool* pool,
               QgemmIsa isa) {
  return driver(kernel_info(resolve(isa)), M, N, K, a, a_zp, b, nullptr, b_zp, nullptr, 0, pool,
                &out);
}

bool qgemm_packed_f32(int64_t M, const QOperand& a, QZeroPoint a_zp, const PackedQB& packed,
                      QZeroPoint b_zp, const QFloatOutput& out, ThreadPool* pool) {
  QOperand b;
  b.is_signed = packed.b_signed;
  return driver(kernel_info(packed.isa), M, packed.N, packed.K, a, a_zp, b, &packed, b_zp, nullptr,
                0, pool, &out);
}

// ---- Dynamic quantization
// ------------------------------------------------------------------------

void minmax_with_zero(const float* x, int64_t n, float* mn, float* mx, QgemmIsa isa) {
  if (resolve(isa) != QgemmIsa::kGeneric && cpu_has_avx512_quant()) {
    qdetail::minmax_avx512(x, n, mn, mx);
    return;
  }
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  *mn = lo;
  *mx = hi;
}

void quantize_u8(const float* x, int64_t n, float scale, int32_t zp, uint8_t nan_value, uint8_t* y,
                 QgemmIsa isa) {
  if (resolve(isa) != QgemmIsa::kGeneric && cpu_has_avx512_quant()) {
    qdetail::quantize_u8_avx512(x, n, scale, zp, nan_value, y);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float q = x[i] / scale;
    if (std::isnan(q)) {
      y[i] = nan_value;
      continue;
    }
    // Far values saturate either way; clamping first keeps the integer conversion defined.
    const float r = std::nearbyint(std::clamp(q, -1024.0f, 1024.0f));
    y[i] = static_cast<uint8_t>(std::clamp(static_cast<int32_t>(r) + zp, 0, 255));
  }
}

}  // namespace kiln::cpu::fast
