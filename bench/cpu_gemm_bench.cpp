// CPU fp32 GEMM benchmark (issue 9): kiln's fast packed SGEMM (runtime/cpu/fast/sgemm.h), with B
// packed on every call and prepacked (as MatMul does for constant weights), against the
// reference loops (gemm_ref.h, split over rows as the old MatMul kernel did) and OpenBLAS's
// cblas_sgemm when libopenblas-dev was found at configure time; at 1 and 2 threads, on squares
// and BERT-base shapes (M = 128; K, N in 768 / 3072), all NN row-major.
//
//   kiln_bench_cpu_gemm [--threads=1,2] [--min-time=SECONDS] [--filter=SUBSTRING] [--no-ref]
//                       [--clock=wall|cpu]
//
// --clock=cpu times each sample by the process's CPU time divided by the thread count instead of
// the wall clock: on a machine shared with other jobs it leaves out the time the benchmark was
// not running (it also hides idle threads, so use wall time on a quiet machine).
// A tiny FMA-throughput loop measures the machine's peak first (independent accumulators, one
// copy per thread, 256- and 512-bit). Each timed sample is one call, after two warm-up calls;
// the table gives the median GFLOP/s (2 M N K / time) with p10 and p90, and the ratios of the
// medians: fast / reference, fast / OpenBLAS and fast / FMA peak (peak per core x threads).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "runtime/core/thread_pool.h"
#include "runtime/cpu/fast/peak_loops.h"
#include "runtime/cpu/fast/sgemm.h"
#include "runtime/cpu/ops/gemm_ref.h"
#include "runtime/tools/bench_stats.h"

#ifdef KILN_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int num_threads);
#endif

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool g_cpu_clock = false;
int g_clock_threads = 1;

// Seconds on the chosen clock (see --clock).
double clock_now() {
  if (g_cpu_clock) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec)) /
           g_clock_threads;
  }
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

// ---- FMA peak ----------------------------------------------------------------------------------

// GFLOP/s of `threads` copies of the loop running at once (best of 5).
double fma_peak(int width, int threads) {
  using kiln::cpu::fast::PeakLoop;
  return kiln::cpu::fast::peak_gops(width == 512 ? PeakLoop::kAvx512Fma : PeakLoop::kAvx2Fma,
                                    threads, 20'000'000, 5, clock_now);
}

// ---- GEMM timings ------------------------------------------------------------------------------

struct Shape3 {
  const char* label;
  int64_t M, N, K;
};

struct Options {
  std::vector<int> threads{1, 2};
  double min_time = 0.5;
  std::string filter;
  bool ref = true;
  bool cpu_clock = false;
};

// Median / p10 / p90 GFLOP/s of fn() (one GEMM per call).
struct Rate {
  double p50 = 0, p10 = 0, p90 = 0;
};

Rate time_gflops(double flops, double min_time, int min_samples, const std::function<void()>& fn) {
  fn();
  fn();
  std::vector<double> g;
  const auto start = Clock::now();
  while (static_cast<int>(g.size()) < min_samples || seconds_since(start) < min_time) {
    const double t0 = clock_now();
    fn();
    g.push_back(flops / (clock_now() - t0) * 1e-9);
    if (g.size() >= 2000) break;
  }
  std::sort(g.begin(), g.end());
  Rate r;
  r.p50 = kiln::tools::percentile_sorted(g, 50);
  r.p10 = kiln::tools::percentile_sorted(g, 10);
  r.p90 = kiln::tools::percentile_sorted(g, 90);
  return r;
}

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::string rate_str(const Rate& r) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%6.1f [%5.1f-%5.1f]", r.p50, r.p10, r.p90);
  return buf;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0) {
      o.threads.clear();
      std::string v = a.substr(10);
      size_t pos = 0;
      while (pos <= v.size()) {
        const size_t comma = v.find(',', pos);
        const std::string item = v.substr(pos, comma == std::string::npos ? v.npos : comma - pos);
        if (!item.empty()) o.threads.push_back(std::max(1, std::atoi(item.c_str())));
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    } else if (a.rfind("--min-time=", 0) == 0) {
      o.min_time = std::atof(a.c_str() + 11);
    } else if (a.rfind("--filter=", 0) == 0) {
      o.filter = a.substr(9);
    } else if (a == "--clock=cpu" || a == "--clock=wall") {
      o.cpu_clock = a == "--clock=cpu";
    } else if (a == "--no-ref") {
      o.ref = false;
    } else {
      std::fprintf(stderr,
                   "usage: kiln_bench_cpu_gemm [--threads=1,2] [--min-time=S] [--filter=STR] "
                   "[--no-ref] [--clock=wall|cpu]\n");
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
  g_cpu_clock = opt.cpu_clock;
  const fast::SgemmIsa isa = fast::sgemm_best_isa();
  std::printf("kiln fast SGEMM micro-kernel: %s\n", fast::sgemm_isa_name(isa));
#ifdef KILN_HAVE_OPENBLAS
  std::printf("OpenBLAS: linked (cblas_sgemm)\n");
#else
  std::printf("OpenBLAS: not found at configure time (Debian: libopenblas-dev); column left out\n");
#endif
  std::vector<double> peak(opt.threads.size());
  for (size_t i = 0; i < opt.threads.size(); ++i) {
    g_clock_threads = opt.threads[i];
    const double p256 = fma_peak(256, opt.threads[i]);
    const double p512 = fma_peak(512, opt.threads[i]);
    peak[i] = std::max(p256, p512);
    std::printf("FMA peak, %d thread(s): %.1f GFLOP/s (256-bit %.1f, 512-bit %.1f)\n",
                opt.threads[i], peak[i], p256, p512);
  }

  const Shape3 shapes[] = {
      {"square 256", 256, 256, 256},
      {"square 512", 512, 512, 512},
      {"square 1024", 1024, 1024, 1024},
      {"bert qkv/out 128x768x768", 128, 768, 768},
      {"bert ffn1 128x3072x768", 128, 3072, 768},
      {"bert ffn2 128x768x3072", 128, 768, 3072},
  };
  std::printf("\nGFLOP/s (%s clock): median [p10-p90]; ratios are of the medians\n",
              opt.cpu_clock ? "cpu" : "wall");
  std::printf("%-28s %3s | %-20s | %-20s | %-20s | %-20s | %7s %7s %7s\n", "shape (MxNxK)", "thr",
              "fast", "fast prepacked B", "reference", "OpenBLAS", "f/ref", "f/blas", "f/peak");
  for (const Shape3& s : shapes) {
    if (!opt.filter.empty() && std::string(s.label).find(opt.filter) == std::string::npos) continue;
    const std::vector<float> a = random_vec(static_cast<size_t>(s.M * s.K), 1);
    const std::vector<float> b = random_vec(static_cast<size_t>(s.K * s.N), 2);
    std::vector<float> c(static_cast<size_t>(s.M * s.N));
    const double flops = 2.0 * s.M * s.N * s.K;
    auto packed = fast::prepack_b(s.K, s.N, b.data(), s.N, 1);
    for (size_t ti = 0; ti < opt.threads.size(); ++ti) {
      const int threads = opt.threads[ti];
      g_clock_threads = threads;
      ThreadPool pool(threads);
      const Rate fr = time_gflops(flops, opt.min_time, 5, [&] {
        fast::sgemm(s.M, s.N, s.K, 1.0f, a.data(), s.K, 1, b.data(), s.N, 1, 0.0f, c.data(), s.N,
                    &pool);
      });
      const Rate pr = time_gflops(flops, opt.min_time, 5, [&] {
        fast::sgemm_packed(s.M, 1.0f, a.data(), s.K, 1, *packed, 0.0f, c.data(), s.N, &pool);
      });
      Rate rr;
      if (opt.ref) {
        rr = time_gflops(flops, std::min(opt.min_time, 1.0), 3, [&] {
          pool.parallel_for(s.M, gemm_row_grain(s.N, s.K), [&](int64_t b0, int64_t e0) {
            gemm_ref_rows<float>(b0, e0, s.N, s.K, a.data(), s.K, 1, b.data(), s.N, 1, c.data(),
                                 s.N);
          });
        });
      }
      Rate br;
#ifdef KILN_HAVE_OPENBLAS
      openblas_set_num_threads(threads);
      br = time_gflops(flops, opt.min_time, 5, [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(s.M),
                    static_cast<int>(s.N), static_cast<int>(s.K), 1.0f, a.data(),
                    static_cast<int>(s.K), b.data(), static_cast<int>(s.N), 0.0f, c.data(),
                    static_cast<int>(s.N));
      });
#endif
      auto ratio = [](double x, double y) { return y > 0 ? x / y : 0.0; };
      std::printf("%-28s %3d | %-20s | %-20s | %-20s | %-20s | %7.2f %7.2f %6.0f%%\n", s.label,
                  threads, rate_str(fr).c_str(), rate_str(pr).c_str(),
                  opt.ref ? rate_str(rr).c_str() : "-", br.p50 > 0 ? rate_str(br).c_str() : "-",
                  ratio(fr.p50, rr.p50), ratio(fr.p50, br.p50), 100.0 * ratio(fr.p50, peak[ti]));
      std::fflush(stdout);
    }
  }
  return 0;
}
