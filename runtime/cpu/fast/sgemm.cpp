// The fast SGEMM's dispatcher and blocked driver (baseline x86-64 code: no instruction-set
// flags here). It picks the micro-kernel at run time, packs A and B into cache-sized blocks and
// shares out output tiles over the thread pool; the portable 4 x 16 micro-kernel lives here too.
//
// Blocking (BLIS-style, row-major C): for each row block of A (up to kMc rows) and each KC-deep
// slice of K, the A block is packed once in MR-row micro-panels (shared by all threads); then for
// each NC-wide column block, B's kc x nc block is packed in NR-wide micro-panels (it stays in
// L2; skipped when B was prepacked) and the (row panel, column panel) tiles are split in
// contiguous ranges over the threads, row panel major, so a thread keeps one A micro-panel in L1
// while it sweeps the B micro-panels. K is never split across threads.
#include "runtime/cpu/fast/sgemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime/cpu/fast/sgemm_kernels.h"
#include "runtime/cpu/fast/weight_alloc.h"

namespace kiln::cpu::fast {

namespace detail {

// Portable micro-kernel: plain loops the compiler may vectorise for the baseline target.
void tiles_generic(const TileJob& job, int64_t t_begin, int64_t t_end) {
  constexpr int MR = kGenericMr, NR = kGenericNr;
  const int64_t n_jr = (job.nc + NR - 1) / NR;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const int64_t ir = t / n_jr, jr = t % n_jr;
    const int64_t m = std::min<int64_t>(MR, job.mc - ir * MR);
    const int64_t n = std::min<int64_t>(NR, job.nc - jr * NR);
    const float* a = job.pa + ir * MR * job.kc;
    const float* b = job.pb + jr * NR * job.kc;
    float acc[MR][NR] = {};
    for (int64_t k = 0; k < job.kc; ++k) {
      for (int i = 0; i < MR; ++i) {
        const float ai = a[i];
        for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
      }
      a += MR;
      b += NR;
    }
    float* c = job.c + ir * MR * job.ldc + jr * NR;
    for (int64_t i = 0; i < m; ++i) {
      float* ci = c + i * job.ldc;
      for (int64_t j = 0; j < n; ++j) {
        const float v = acc[i][j] * job.alpha;
        ci[j] = job.beta == 0.0f ? v : v + ci[j] * job.beta;
      }
    }
  }
}

}  // namespace detail

namespace {

using detail::TileFn;
using detail::TileJob;

constexpr int64_t kKc = 384;   // depth of a packed slice
constexpr int64_t kNc = 256;   // columns of a packed B block (kc x nc floats: 384 KiB, L2)
constexpr int64_t kMc = 2048;  // most rows of a packed A block (mc x kc floats: <= 3 MiB, L3)
// Up to this many rows, threads split the columns of C instead of sharing each block's tiles.
constexpr int64_t kSplitColumnsMaxM = 512;
// Prepacked B: the tiles of each block ask for the next block into L2 (TileJob::next_pb; the
// AVX-512 tiles do). BERT-base-like chains of MatMuls whose weights come from memory: in-model
// MatMul +1.7 % (median of 8 alternating runs); 1024^3 unchanged.
constexpr bool kPrefetchNextBlock = true;

struct KernelInfo {
  SgemmIsa isa;
  int64_t mr, nr;
  TileFn fn;
  detail::PackAFn pack_a;  // full row-major A panels; null: the generic loop
};

KernelInfo kernel_info(SgemmIsa isa) {
  switch (isa) {
    case SgemmIsa::kAvx512:
      return {isa, detail::kAvx512Mr, detail::kAvx512Nr, detail::tiles_avx512,
              detail::pack_a_avx512};
    case SgemmIsa::kAvx2:
      return {isa, detail::kAvx2Mr, detail::kAvx2Nr, detail::tiles_avx2, nullptr};
    default:
      return {SgemmIsa::kGeneric, detail::kGenericMr, detail::kGenericNr, detail::tiles_generic,
              nullptr};
  }
}

bool cpu_supports(SgemmIsa isa) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  switch (isa) {
    case SgemmIsa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
    case SgemmIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
#else
  return isa == SgemmIsa::kGeneric || isa == SgemmIsa::kAuto;
#endif
}

SgemmIsa detect_best() {
  SgemmIsa best = SgemmIsa::kGeneric;
  if (cpu_supports(SgemmIsa::kAvx2)) best = SgemmIsa::kAvx2;
  if (cpu_supports(SgemmIsa::kAvx512)) best = SgemmIsa::kAvx512;
  // KILN_SGEMM_ISA narrows the choice (never widens it past what the CPU has).
  if (const char* env = std::getenv("KILN_SGEMM_ISA")) {
    const std::string v(env);
    if (v == "generic") best = SgemmIsa::kGeneric;
    if (v == "avx2" && best == SgemmIsa::kAvx512) best = SgemmIsa::kAvx2;
  }
  return best;
}

SgemmIsa resolve(SgemmIsa isa) {
  if (isa == SgemmIsa::kAuto || !cpu_supports(isa)) return sgemm_best_isa();
  return isa;
}

// 64-byte aligned scratch that grows on demand and is kept per thread.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  ~Scratch() { std::free(p); }
  float* get(size_t want) {
    if (want > n) {
      std::free(p);
      const size_t bytes = ((want * sizeof(float) + 63) / 64) * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      n = p ? want : 0;
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

// Packs B(pc .. pc+kc, jc .. jc+nc) as NR-wide micro-panels [jr_begin, jr_end) into dst.
void pack_b_panels(const float* b, int64_t b_rs, int64_t b_cs, int64_t pc, int64_t kc, int64_t jc,
                   int64_t nc, int64_t nr, int64_t jr_begin, int64_t jr_end, float* dst) {
  for (int64_t jr = jr_begin; jr < jr_end; ++jr) {
    float* d = dst + jr * nr * kc;
    const int64_t j0 = jc + jr * nr;
    const int64_t nn = std::min(nr, nc - jr * nr);
    if (b_cs == 1) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = b + (pc + k) * b_rs + j0;
        float* dk = d + k * nr;
        std::memcpy(dk, s, static_cast<size_t>(nn) * sizeof(float));
        for (int64_t j = nn; j < nr; ++j) dk[j] = 0.0f;
      }
    } else {
      if (nn < nr)
        for (int64_t k = 0; k < kc; ++k)
          for (int64_t j = nn; j < nr; ++j) d[k * nr + j] = 0.0f;
      for (int64_t j = 0; j < nn; ++j) {
        const float* s = b + pc * b_rs + (j0 + j) * b_cs;
        for (int64_t k = 0; k < kc; ++k) d[k * nr + j] = s[k * b_rs];
      }
    }
  }
}

// Packs A(ic .. ic+mc, pc .. pc+kc) as MR-row micro-panels [ir_begin, ir_end) into dst (panel ir
// at dst + (ir - ir_begin) * mr * kc). `fast` (may be null) packs the full panels of a row-major
// A.
void pack_a_panels(const float* a, int64_t a_rs, int64_t a_cs, int64_t ic, int64_t mc, int64_t pc,
                   int64_t kc, int64_t mr, int64_t ir_begin, int64_t ir_end, detail::PackAFn fast,
                   float* dst) {
  for (int64_t ir = ir_begin; ir < ir_end; ++ir) {
    float* d = dst + (ir - ir_begin) * mr * kc;
    const int64_t i0 = ic + ir * mr;
    const int64_t mm = std::min(mr, mc - ir * mr);
    if (fast && a_cs == 1 && mm == mr) {
      fast(a + i0 * a_rs + pc, a_rs, kc, d);
      continue;
    }
    if (a_rs == 1 && a_cs != 1) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = a + (pc + k) * a_cs + i0;
        float* dk = d + k * mr;
        for (int64_t i = 0; i < mm; ++i) dk[i] = s[i];
        for (int64_t i = mm; i < mr; ++i) dk[i] = 0.0f;
      }
    } else {
      if (mm < mr)
        for (int64_t k = 0; k < kc; ++k)
          for (int64_t i = mm; i < mr; ++i) d[k * mr + i] = 0.0f;
      for (int64_t i = 0; i < mm; ++i) {
        const float* s = a + (i0 + i) * a_rs + pc * a_cs;
        for (int64_t k = 0; k < kc; ++k) d[k * mr + i] = s[k * a_cs];
      }
    }
  }
}

void run_parallel(ThreadPool* pool, int64_t n, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn) {
  if (pool && pool->num_threads() > 1)
    pool->parallel_for(n, grain, fn);
  else if (n > 0)
    fn(0, n);
}

// Where packed B's (jc, pc) block starts in a PackedB.
int64_t packed_offset(int64_t K, int64_t N, int64_t nr, int64_t jc, int64_t pc) {
  const int64_t ncb = std::min(kNc, N - jc);
  const int64_t panels = (ncb + nr - 1) / nr;
  return jc * K + panels * nr * pc;  // full blocks are kNc (a multiple of nr) wide
}

void scale_c(int64_t M, int64_t N, float alpha, float beta, float* c, int64_t ldc) {
  // K == 0: the product is all zeros.
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float& v = c[m * ldc + n];
      v = beta == 0.0f ? alpha * 0.0f : alpha * 0.0f + v * beta;
    }
}

// Columns [n_lo, n_hi) of C (n_lo a multiple of NR) over every row and the whole K: the blocked
// loops of the file comment, with `pool` (may be null) sharing out the packing and the tiles of
// each block.
void driver_cols(const KernelInfo& ki, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
                 int64_t a_rs, int64_t a_cs, const float* b, int64_t b_rs, int64_t b_cs,
                 const PackedB* packed, float beta, float* c, int64_t ldc, int64_t n_lo,
                 int64_t n_hi, ThreadPool* pool) {
  const int64_t mr = ki.mr, nr = ki.nr;
  const int threads = pool ? pool->num_threads() : 1;
  // Row blocks of equal size (a multiple of MR), so no block is a thin leftover.
  const int64_t n_ic = (M + kMc - 1) / kMc;
  const int64_t mc_step = ((M + n_ic - 1) / n_ic + mr - 1) / mr * mr;
  // Column block jc (a multiple of kNc) holds columns [jc, jc + kNc) of C; only those inside
  // [n_lo, n_hi) are computed: from jc + first_col(jc) (a multiple of nr), cols_in(jc) of them.
  auto first_col = [&](int64_t jc) { return std::max(n_lo, jc) - jc; };
  auto cols_in = [&](int64_t jc) { return std::min({n_hi, jc + kNc, N}) - jc - first_col(jc); };
  // Where those columns start in a prepacked B's K slice pc (depth kc).
  auto packed_block = [&](int64_t jc, int64_t pc, int64_t kc) {
    return packed->data.get() + packed_offset(K, N, nr, jc, pc) + first_col(jc) / nr * nr * kc;
  };
  for (int64_t ic = 0; ic < M; ic += mc_step) {
    const int64_t mc = std::min(mc_step, M - ic);
    const int64_t n_ir = (mc + mr - 1) / mr;
    for (int64_t pc = 0; pc < K; pc += kKc) {
      const int64_t kc = std::min(kKc, K - pc);
      // The A block is packed once and shared by every column block and thread.
      float* pa = scratch_a().get(static_cast<size_t>(n_ir * mr * kc));
      if (!pa) std::abort();
      run_parallel(pool, n_ir, std::max<int64_t>(1, n_ir / threads), [&](int64_t rb, int64_t re) {
        pack_a_panels(a, a_rs, a_cs, ic, mc, pc, kc, mr, rb, re, ki.pack_a, pa + rb * mr * kc);
      });
      const float eff_beta = pc == 0 ? beta : 1.0f;
      // Column blocks start at multiples of kNc, where a prepacked B's blocks start.
      for (int64_t jc = n_lo / kNc * kNc; jc < n_hi; jc += kNc) {
        const int64_t c0 = first_col(jc), nc = cols_in(jc);
        const int64_t n_jr = (nc + nr - 1) / nr;
        const float* pb;
        if (packed) {
          pb = packed_block(jc, pc, kc);
        } else {
          float* buf = scratch_b().get(static_cast<size_t>(n_jr * nr * kc));
          if (!buf) std::abort();
          run_parallel(pool, n_jr, std::max<int64_t>(1, n_jr / threads),
                       [&](int64_t jb, int64_t je) {
                         pack_b_panels(b, b_rs, b_cs, pc, kc, jc + c0, nc, nr, jb, je, buf);
                       });
          pb = buf;
        }
        TileJob job;
        job.mc = mc;
        job.nc = nc;
        job.kc = kc;
        job.pa = pa;
        job.pb = pb;
        job.c = c + ic * ldc + jc + c0;
        job.ldc = ldc;
        job.alpha = alpha;
        job.beta = eff_beta;
        if (packed && kPrefetchNextBlock) {
          // The next block of this loop: the next column block in [n_lo, n_hi), else the first
          // one of the next K slice (nothing after the last).
          int64_t njc = jc + kNc, npc = pc;
          if (njc >= n_hi) {
            njc = n_lo / kNc * kNc;
            npc = pc + kKc;
          }
          if (npc < K) {
            const int64_t nkc = std::min(kKc, K - npc);
            const int64_t n_panels = (cols_in(njc) + nr - 1) / nr;
            job.next_pb = packed_block(njc, npc, nkc);
            job.next_lines = n_panels * nr * nkc * static_cast<int64_t>(sizeof(float)) / 64;
          }
        }
        const int64_t tiles = n_ir * n_jr;
        run_parallel(pool, tiles, std::max<int64_t>(1, tiles / threads),
                     [&](int64_t tb, int64_t te) { ki.fn(job, tb, te); });
      }
    }
  }
}

void driver(const KernelInfo& ki, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
            int64_t a_rs, int64_t a_cs, const float* b, int64_t b_rs, int64_t b_cs,
            const PackedB* packed, float beta, float* c, int64_t ldc, ThreadPool* pool) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    scale_c(M, N, alpha, beta, c, ldc);
    return;
  }
  const int64_t nr = ki.nr;
  // Small products are not worth waking the pool for.
  const double flops =
      2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  if (flops < 2.0e6) pool = nullptr;
  const int threads = pool ? pool->num_threads() : 1;
  // A short A (the activations of a transformer at batch 1: M = sequence length) against a
  // wide B: each thread takes whole column panels over every row and the whole of K, packing
  // its own copy of A, so the pool meets once per product instead of at every packed block
  // (three times per 384-deep K slice), and each thread reads only its share of B.
  const int64_t panels = (N + nr - 1) / nr;
  if (threads > 1 && M <= kSplitColumnsMaxM && panels >= 2 * threads) {
    const int64_t per = (panels + threads - 1) / threads;
    pool->parallel_for(threads, 1, [&](int64_t tb, int64_t te) {
      for (int64_t t = tb; t < te; ++t) {
        const int64_t lo = std::min(N, t * per * nr), hi = std::min(N, (t + 1) * per * nr);
        if (lo < hi)
          driver_cols(ki, M, N, K, alpha, a, a_rs, a_cs, b, b_rs, b_cs, packed, beta, c, ldc, lo,
                      hi, nullptr);
      }
    });
    return;
  }
  driver_cols(ki, M, N, K, alpha, a, a_rs, a_cs, b, b_rs, b_cs, packed, beta, c, ldc, 0, N, pool);
}

}  // namespace

void PackedB::FreeDeleter::operator()(float* p) const {
  std::free(p);
}

const char* sgemm_isa_name(SgemmIsa isa) {
  switch (isa) {
    case SgemmIsa::kAuto:
      return "auto";
    case SgemmIsa::kGeneric:
      return "generic";
    case SgemmIsa::kAvx2:
      return "avx2";
    case SgemmIsa::kAvx512:
      return "avx512";
  }
  return "?";
}

bool sgemm_isa_supported(SgemmIsa isa) {
  return cpu_supports(isa);
}

SgemmIsa sgemm_best_isa() {
  static const SgemmIsa best = detect_best();
  return best;
}

std::shared_ptr<const PackedB> prepack_b(int64_t K, int64_t N, const float* b, int64_t b_rs,
                                         int64_t b_cs, SgemmIsa isa) {
  auto p = std::make_shared<PackedB>();
  const KernelInfo ki = kernel_info(resolve(isa));
  p->isa = ki.isa;
  p->K = std::max<int64_t>(K, 0);
  p->N = std::max<int64_t>(N, 0);
  if (p->K == 0 || p->N == 0) return p;
  int64_t total = 0;
  for (int64_t jc = 0; jc < N; jc += kNc) {
    const int64_t ncb = std::min(kNc, N - jc);
    total += (ncb + ki.nr - 1) / ki.nr * ki.nr * K;
  }
  const size_t bytes = ((static_cast<size_t>(total) * sizeof(float) + 63) / 64) * 64;
  p->data.reset(static_cast<float*>(alloc_weights(bytes)));
  if (!p->data) return nullptr;
  p->size = static_cast<size_t>(total);
  for (int64_t jc = 0; jc < N; jc += kNc) {
    const int64_t nc = std::min(kNc, N - jc);
    const int64_t n_jr = (nc + ki.nr - 1) / ki.nr;
    for (int64_t pc = 0; pc < K; pc += kKc) {
      const int64_t kc = std::min(kKc, K - pc);
      pack_b_panels(b, b_rs, b_cs, pc, kc, jc, nc, ki.nr, 0, n_jr,
                    p->data.get() + packed_offset(K, N, ki.nr, jc, pc));
    }
  }
  return p;
}

void sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t a_rs, int64_t a_cs,
           const float* b, int64_t b_rs, int64_t b_cs, float beta, float* c, int64_t ldc,
           ThreadPool* pool, SgemmIsa isa) {
  driver(kernel_info(resolve(isa)), M, N, K, alpha, a, a_rs, a_cs, b, b_rs, b_cs, nullptr, beta, c,
         ldc, pool);
}

void sgemm_packed(int64_t M, float alpha, const float* a, int64_t a_rs, int64_t a_cs,
                  const PackedB& packed, float beta, float* c, int64_t ldc, ThreadPool* pool) {
  driver(kernel_info(packed.isa), M, packed.N, packed.K, alpha, a, a_rs, a_cs, nullptr, 0, 0,
         &packed, beta, c, ldc, pool);
}

}  // namespace kiln::cpu::fast
