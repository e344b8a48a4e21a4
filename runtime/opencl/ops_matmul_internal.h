// The register-blocked OpenCL GEMM of ops_matmul.cpp (kernels/matmul.cl) for other OpenCL ops
// that multiply matrices inside a fused kernel (Attention's Q/K/V projection): the geometry
// description and the maker that picks the tuned variant (gemm_nn / gemm_nt / the strided
// fallback) for this device.
#pragma once

#include <memory>
#include <vector>

#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

// C[batch] [M, N] = alpha * A [M, K] x B [K, N] + beta * bias, element strides within a matrix
// (sam, sak for A; sbk, sbn for B), batch strides per output batch dim (0 where broadcast).
struct GemmGeometry {
  int64_t M = 0, N = 0, K = 0;
  int64_t sam = 0, sak = 0, sbk = 0, sbn = 0;
  Shape batch;                      // output batch dims
  std::vector<int64_t> a_bs, b_bs;  // batch strides (0 where broadcast)
  bool has_bias = false;
  int64_t bias_sm = 0, bias_sn = 0;
  float alpha = 1, beta = 1;
  Shape out;
  int64_t b_mats = 1;             // matrices stored in B (its batch elements)
  DType dtype = DType::kFloat32;  // of every operand and the output (float32 or float16)
};

// One row-major float32 product C [M, N] = A [M, K] x B [K, N] (+ bias [N] on every row).
inline GemmGeometry row_major_gemm(int64_t M, int64_t N, int64_t K, bool bias) {
  GemmGeometry g;
  g.M = M;
  g.N = N;
  g.K = K;
  g.sam = K;
  g.sak = 1;
  g.sbk = N;
  g.sbn = 1;
  g.has_bias = bias;
  g.bias_sm = 0;
  g.bias_sn = 1;
  g.out = {M, N};
  return g;
}

// The kernel for a checked geometry with this device's tuning. Its enqueue takes inputs
// {A, B} or {A, B, bias} (has_bias_input) and outputs {C}; the device tensors' offsets must be
// multiples of the element size.
Expected<std::unique_ptr<DeviceKernel>> make_gemm_kernel(ClContext& ctx, const GemmGeometry& g,
                                                         bool has_bias_input);

}  // namespace kiln::opencl
