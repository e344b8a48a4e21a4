// The level-1 ("basic", ONNX Runtime's meaning) passes, one factory per pass. Each is defined in
// its own file beside this one; add_basic_passes (basic_passes.cpp) lists them in order.
#pragma once

#include <cstdint>
#include <memory>

#include "graph/passes/pass.h"

namespace kiln::passes {

// Folds deterministic nodes whose inputs are all constants into initializers by running the CPU
// kernel once ("constant_folded"). Outputs over `max_output_bytes` stay nodes; a kernel error
// leaves the node to fail (or not) at run time. Constant nodes become initializers.
constexpr int64_t kDefaultFoldLimitBytes = int64_t{16} << 20;  // 16 MiB
std::unique_ptr<Pass> make_constant_folding(int64_t max_output_bytes = kDefaultFoldLimitBytes);
// Identity nodes are removed ("identity_removed").
std::unique_ptr<Pass> make_identity_elimination();
// Dropout in inference (mask unused, training_mode absent or false) is removed
// ("dropout_removed").
std::unique_ptr<Pass> make_dropout_elimination();
// Shape / Size of values whose dims are known, and Gather / Slice of Shape outputs that only
// pick known dims, become constants ("shape_folded").
std::unique_ptr<Pass> make_shape_folding();
// Redundant pairs: no-op Cast, lossless Cast -> Cast, Reshape -> Reshape, Transpose ->
// Transpose, Unsqueeze -> Squeeze and Squeeze -> Unsqueeze that cancel ("cast_removed",
// "cast_merged", "reshape_merged", "transpose_removed", "transpose_merged", "squeeze_removed").
std::unique_ptr<Pass> make_redundant_pair_elimination();
// MatMul (2-D inputs) + constant bias broadcast on the last axis -> Gemm ("Gemm").
std::unique_ptr<Pass> make_matmul_add_fusion();

}  // namespace kiln::passes
