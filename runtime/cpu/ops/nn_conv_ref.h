// Switch between the fast float32 paths of the CPU Conv, MaxPool and AveragePool kernels
// (im2col / 1x1 GEMM on the packed SGEMM, direct depthwise loops, row-wise pools) and the
// reference loops they are tested against. Process-wide; meant for tests and measurements. The
// environment variable KILN_NN_REFERENCE=1 starts the process with the fast paths off.
#pragma once

namespace kiln::cpu::nn {

// When false, Conv, MaxPool and AveragePool run only their reference loops.
void set_fast_paths_enabled(bool on);
bool fast_paths_enabled();

}  // namespace kiln::cpu::nn
