// Per-device tile parameters for the OpenCL SGEMM kernels (kernels/matmul.cl): a small table
// keyed by platform / device name / vendor, measured with bench/gemm_bench, with defaults for
// devices not in it. An entry saved by `kiln bench --op gemm --tune --tune-save` (in
// <cache dir>/gemm_tuning.json, keyed by platform, device and driver) replaces the table's.
// KILN_GEMM_TUNING="nn_tm=8,nn_vw=16,..." overrides single fields (for tuning runs); invalid
// overrides are ignored with a warning.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/core/status.h"

#include "runtime/opencl/device_info.h"

namespace kiln::opencl {

struct GemmTuning {
  // gemm_nn (B row-major [K, N]): nn_tm rows x nn_nv vectors of nn_vw columns per work-item.
  int nn_tm = 8, nn_vw = 16, nn_nv = 1;
  int nn_lx = 8, nn_ly = 8;  // work-group size (columns, rows of work-items)
  // gemm_nt (B stored [N, K]): nt_tm x nt_tn outputs per work-item, nt_vw floats of K per load.
  int nt_tm = 4, nt_tn = 4, nt_vw = 16;
  int nt_lx = 8, nt_ly = 8;
  // A row-major B is transposed into a scratch buffer and run through gemm_nt when
  // (M >= nn_transpose_min_m and K * N >= nn_transpose_min_kn) or K * N >= nn_transpose_big_kn
  // (0 = never): the transpose costs K * N, the multiply M * K * N, and gemm_nn slows down
  // once B's column strips stop fitting the cache.
  int nn_transpose_min_m = 0, nn_transpose_min_kn = 0, nn_transpose_big_kn = 0;
  // gemm (general strided fallback): 4 x 4 outputs per work-item.
  int gen_lx = 8, gen_ly = 8;
  std::string source = "default";  // which table entry (for logs and the benchmark)

  int nn_cols() const { return nn_vw * nn_nv; }
  // The -D options that build kernels/matmul.cl for these parameters.
  std::string build_options() const;
  // "nn 8x16 wg 8x8, nt 4x4/16 wg 8x8" for logs.
  std::string to_string() const;
  // Empty when every field is in range for a device whose largest work-group is `max_wg`.
  std::string validate(uint64_t max_wg) const;
};

// The parameters for `info`: the table entry that matches, else the defaults; then the saved
// entry for this device and driver, then the KILN_GEMM_TUNING override. While a tuning run has
// forced parameters (force_gemm_tuning), those.
GemmTuning gemm_tuning_for(const OpenClDeviceInfo& info);

// Tuning runs: every GEMM kernel prepared in this process uses `t` until it is called with
// nullptr. Not for normal use.
void force_gemm_tuning(const GemmTuning* t);

class OpenClBackend;

// One candidate timed by tune_gemm.
struct GemmTuneRow {
  std::string stage;  // "path", "tile", "work-group"
  GemmTuning tuning;
  std::string kernel;  // the prepared kernel ("gemm_nt_4x4_k16")
  double ms = 0;       // best device time of one MatMul (transpose included); 0 when it failed
  double gflops = 0;
  std::string error;  // why the candidate could not run
};

struct GemmTuneResult {
  GemmTuning base;  // what the device uses today
  GemmTuning best;  // the fastest candidate, with the transpose thresholds set so that the
                    // tuned shape takes the path that won
  double base_ms = 0, best_ms = 0;
  std::vector<GemmTuneRow> rows;
};

// Times MatMul [M, K] x [K, N] (float32) on `backend` for a bounded set of candidates: the
// gemm_nn and transposed gemm_nt paths, then about five tile shapes of the winner, then
// work-group sizes, then today's parameters and the winner again (alternating, the best time of
// each kept, so that a noisy machine does not crown a fluke); each candidate is the best of a
// few runs on the device clock. `on_row` is called after each candidate. Seconds on PoCL (each new
// tile shape builds a program once).
Expected<GemmTuneResult> tune_gemm(OpenClBackend& backend, int64_t M, int64_t N, int64_t K,
                                   const std::function<void(const GemmTuneRow&)>& on_row);

// `t` as an entry of the table in gemm_tuning.cpp (C++ source matching `info`'s platform and
// device names).
std::string gemm_tuning_table_entry(const GemmTuning& t, const OpenClDeviceInfo& info);

// <cache dir>/gemm_tuning.json ("" when the cache is off: KILN_CACHE_DIR=off).
std::string gemm_tuning_file();
// Stores `t` as the saved entry for `info`'s platform, device and driver; `note` says where it
// came from (shape, GFLOP/s).
Status save_gemm_tuning(const OpenClDeviceInfo& info, const GemmTuning& t, const std::string& note);

// Applies "key=value,key=value" to `t`; returns an error message naming the bad field, or "".
std::string apply_gemm_tuning_overrides(const std::string& spec, GemmTuning* t);

}  // namespace kiln::opencl
