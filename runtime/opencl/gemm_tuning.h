// Per-device tile parameters for the OpenCL SGEMM kernels (kernels/matmul.cl): a small table
// keyed by platform / device name / vendor, measured with bench/gemm_bench, with defaults for
// devices not in it. KILN_GEMM_TUNING="nn_tm=8,nn_vw=16,..." overrides single fields (for
// tuning runs); invalid overrides are ignored with a warning.
#pragma once

#include <string>

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

// The parameters for `info`: the table entry that matches, else the defaults; then the
// KILN_GEMM_TUNING override.
GemmTuning gemm_tuning_for(const OpenClDeviceInfo& info);

// Applies "key=value,key=value" to `t`; returns an error message naming the bad field, or "".
std::string apply_gemm_tuning_overrides(const std::string& spec, GemmTuning* t);

}  // namespace kiln::opencl
