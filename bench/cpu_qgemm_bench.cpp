// CPU int8 GEMM benchmark (issues 6 and 9): kiln's fast int8 GEMM (runtime/cpu/fast/qgemm.h,
// uint8 A x int8 B -> int32 with zero points, B packed on every call and prepacked as
// MatMulInteger does for constant weights) against kiln's fp32 SGEMM (prepacked B) and, with
// --ref, the int8 reference loops (gemm_ref.h); on 1024^3 and BERT-base shapes (M = 128; K, N in
// 768 / 3072), at 1 thread unless --threads says otherwise.
//
//   kiln_bench_cpu_qgemm [--threads=1,2] [--min-time=SECONDS] [--filter=SUBSTRING] [--ref]
//                        [--clock=wall|cpu]
//
// Peaks first: a register-only vpdpbusd loop (12 independent zmm accumulators, one copy per
// thread; 64 multiply-adds = 128 ops per instruction) gives the VNNI peak in GOP/s, and the same
// with vfmadd (512-bit) the FMA peak in GFLOP/s. Each timed sample is one call after two warm-up
// calls; the table gives the median GOP/s (2 M N K / time) with p10 and p90, the int8 rate as a
// share of the VNNI peak (peak per thread count), and int8 / fp32 (both prepacked).
// --clock=cpu times by the process's CPU time divided by the thread count (see
// cpu_gemm_bench.cpp): on a machine shared with other jobs it leaves out time not running.
// Last, DynamicQuantizeLinear's min / max and quantize passes over a 128 x 3072 activation,
// vectorised against the scalar loops (GB/s moved).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "runtime/core/thread_pool.h"
#include "runtime/cpu/fast/peak_loops.h"
#include "runtime/cpu/fast/qgemm.h"
#include "runtime/cpu/fast/sgemm.h"
#include "runtime/cpu/ops/gemm_ref.h"
#include "runtime/tools/bench_stats.h"

namespace {

using Clock = std::chrono::steady_clock;

bool g_cpu_clock = false;
int g_clock_threads = 1;

double clock_now() {
  if (g_cpu_clock) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec)) /
           g_clock_threads;
  }
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

// ---- Peaks
// ---------------------------------------------------------------------------------------

// G(FL)OP/s of `threads` copies of the loop at once (best of 5); 0 without the instructions.
double peak(bool vnni, int threads) {
  using kiln::cpu::fast::PeakLoop;
  return kiln::cpu::fast::peak_gops(vnni ? PeakLoop::kAvx512Vnni : PeakLoop::kAvx512Fma, threads,
                                    10'000'000, 5, clock_now);
}

// ---- Timings
// -------------------------------------------------------------------------------------

struct Rate {
  double p50 = 0, p10 = 0, p90 = 0;
};

Rate time_rate(double ops, double min_time, int min_samples, const std::function<void()>& fn) {
  fn();
  fn();
  std::vector<double> g;
  const auto start = Clock::now();
  while (static_cast<int>(g.size()) < min_samples ||
         std::chrono::duration<double>(Clock::now() - start).count() < min_time) {
    const double t0 = clock_now();
    fn();
    g.push_back(ops / (clock_now() - t0) * 1e-9);
    if (g.size() >= 2000) break;
  }
  std::sort(g.begin(), g.end());
  Rate r;
  r.p50 = kiln::tools::percentile_sorted(g, 50);
  r.p10 = kiln::tools::percentile_sorted(g, 10);
  r.p90 = kiln::tools::percentile_sorted(g, 90);
  return r;
}

std::string rate_str(const Rate& r) {
  if (r.p50 <= 0) return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%6.1f [%5.1f-%5.1f]", r.p50, r.p10, r.p90);
  return buf;
}

struct Options {
  std::vector<int> threads{1};
  double min_time = 0.5;
  std::string filter;
  bool ref = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0) {
      o.threads.clear();
      const std::string v = a.substr(10);
      size_t pos = 0;
      while (pos <= v.size()) {
        const size_t comma = v.find(',', pos);
        const std::string item = v.substr(pos, comma == std::string::npos ? v.npos : comma - pos);
        if (!item.empty()) o.threads.push_back(std::max(1, std::atoi(item.c_str())));
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
      if (o.threads.empty()) o.threads.push_back(1);
    } else if (a.rfind("--min-time=", 0) == 0) {
      o.min_time = std::atof(a.c_str() + 11);
    } else if (a.rfind("--filter=", 0) == 0) {
      o.filter = a.substr(9);
    } else if (a == "--clock=cpu" || a == "--clock=wall") {
      g_cpu_clock = a == "--clock=cpu";
    } else if (a == "--ref") {
      o.ref = true;
    } else {
      std::fprintf(stderr,
                   "usage: kiln_bench_cpu_qgemm [--threads=1,2] [--min-time=S] [--filter=STR] "
                   "[--ref] [--clock=wall|cpu]\n");
      std::exit(2);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kiln;
  using namespace kiln::cpu;
  const Options opt = parse(argc, argv);
  std::printf("kiln int8 GEMM micro-kernel: %s; fp32 SGEMM micro-kernel: %s\n",
              fast::qgemm_isa_name(fast::qgemm_best_isa()),
              fast::sgemm_isa_name(fast::sgemm_best_isa()));
  std::vector<double> vnni_peak(opt.threads.size()), fma_peak(opt.threads.size());
  for (size_t i = 0; i < opt.threads.size(); ++i) {
    g_clock_threads = opt.threads[i];
    vnni_peak[i] = peak(true, opt.threads[i]);
    fma_peak[i] = peak(false, opt.threads[i]);
    std::printf("%d thread(s): VNNI peak %.1f GOP/s (vpdpbusd zmm), FMA peak %.1f GFLOP/s\n",
                opt.threads[i], vnni_peak[i], fma_peak[i]);
  }
  struct Shape3 {
    const char* label;
    int64_t M, N, K;
  };
  const Shape3 shapes[] = {
      {"square 1024", 1024, 1024, 1024},
      {"bert qkv/out 128x768x768", 128, 768, 768},
      {"bert ffn1 128x3072x768", 128, 3072, 768},
      {"bert ffn2 128x768x3072", 128, 768, 3072},
  };
  std::printf("\nG(FL)OP/s (%s clock): median [p10-p90]; ratios are of the medians\n",
              g_cpu_clock ? "cpu" : "wall");
  std::printf("%-26s %3s | %-20s | %-20s | %-20s | %-20s | %7s %7s %7s\n", "shape (MxNxK)", "thr",
              "int8", "int8 prepacked B", "fp32 prepacked B", "int8 reference", "i8/vnni", "i8/f32",
              "f32/fma");
  for (const Shape3& s : shapes) {
    if (!opt.filter.empty() && std::string(s.label).find(opt.filter) == std::string::npos) continue;
    std::mt19937 rng(1);
    std::uniform_int_distribution<int> d(0, 255);
    std::vector<uint8_t> a(static_cast<size_t>(s.M * s.K)), b(static_cast<size_t>(s.K * s.N));
    for (uint8_t& x : a) x = static_cast<uint8_t>(d(rng));
    for (uint8_t& x : b) x = static_cast<uint8_t>(d(rng));
    std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end());
    std::vector<int32_t> c(static_cast<size_t>(s.M * s.N));
    std::vector<float> cf(c.size());
    const int32_t azp = 117;
    const fast::QOperand qa{a.data(), false, s.K, 1}, qb{b.data(), true, s.N, 1};
    const fast::QZeroPoint az{&azp, 0}, bz{};
    auto packed = fast::qgemm_prepack_b(s.K, s.N, qb);
    auto packed_f = fast::prepack_b(s.K, s.N, bf.data(), s.N, 1);
    const double ops = 2.0 * s.M * s.N * s.K;
    for (size_t ti = 0; ti < opt.threads.size(); ++ti) {
      const int threads = opt.threads[ti];
      g_clock_threads = threads;
      ThreadPool pool(threads);
      const Rate ir = time_rate(ops, opt.min_time, 5, [&] {
        fast::qgemm(s.M, s.N, s.K, qa, az, qb, bz, c.data(), s.N, &pool);
      });
      const Rate pr = time_rate(ops, opt.min_time, 5, [&] {
        fast::qgemm_packed(s.M, qa, az, *packed, bz, c.data(), s.N, &pool);
      });
      const Rate fr = time_rate(ops, opt.min_time, 5, [&] {
        fast::sgemm_packed(s.M, 1.0f, af.data(), s.K, 1, *packed_f, 0.0f, cf.data(), s.N, &pool);
      });
      Rate rr;
      if (opt.ref) {
        rr = time_rate(ops, std::min(opt.min_time, 1.0), 2, [&] {
          pool.parallel_for(s.M, gemm_row_grain(s.N, s.K), [&](int64_t b0, int64_t e0) {
            gemm_ref_i32_rows<uint8_t, int8_t>(b0, e0, s.N, s.K, a.data(), s.K, 1, &azp, 0,
                                               reinterpret_cast<const int8_t*>(b.data()), s.N, 1,
                                               nullptr, 0, c.data(), s.N);
          });
        });
      }
      auto ratio = [](double x, double y) { return y > 0 ? x / y : 0.0; };
      std::printf("%-26s %3d | %-20s | %-20s | %-20s | %-20s | %6.0f%% %7.2f %6.0f%%\n", s.label,
                  threads, rate_str(ir).c_str(), rate_str(pr).c_str(), rate_str(fr).c_str(),
                  rate_str(rr).c_str(), 100.0 * ratio(pr.p50, vnni_peak[ti]), ratio(pr.p50, fr.p50),
                  100.0 * ratio(fr.p50, fma_peak[ti]));
      std::fflush(stdout);
    }
  }
  // DynamicQuantizeLinear's two passes (min / max, then quantize) on a BERT activation, vectorised
  // against the scalar reference loops, one thread.
  {
    const int64_t n = 128 * 3072;
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> d(-4.0f, 4.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = d(rng);
    std::vector<uint8_t> y(static_cast<size_t>(n));
    g_clock_threads = 1;
    auto pass = [&](bool fast_path) {
      float mn = 0, mx = 0;
      if (fast_path) {
        fast::minmax_with_zero(x.data(), n, &mn, &mx);
      } else {
        for (int64_t i = 0; i < n; ++i) {
          if (x[i] < mn) mn = x[i];
          if (x[i] > mx) mx = x[i];
        }
      }
      const float scale = (mx - mn) / 255.0f;
      fast::quantize_u8(x.data(), n, scale, 128, 0, y.data(),
                        fast_path ? fast::QgemmIsa::kAuto : fast::QgemmIsa::kGeneric);
    };
    // "ops" = bytes read and written by the two passes, so the rates are GB/s.
    const double bytes = 9.0 * static_cast<double>(n);
    const Rate fr = time_rate(bytes, opt.min_time, 5, [&] { pass(true); });
    const Rate sr = time_rate(bytes, opt.min_time, 5, [&] { pass(false); });
    std::printf(
        "\nDynamicQuantizeLinear 128x3072, 1 thread, GB/s: vectorised %s, scalar %s (%.1fx)\n",
        rate_str(fr).c_str(), rate_str(sr).c_str(), sr.p50 > 0 ? fr.p50 / sr.p50 : 0.0);
  }
  return 0;
}
