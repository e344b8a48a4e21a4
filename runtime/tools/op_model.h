// One-op models for `kiln bench --op`: an ONNX file holding a single kernel-sized workload (a
// GEMM, a convolution, an attention block, a normalisation...) with random constant weights, so
// that a kernel is benchmarked through the same Session, device choice and profiler as a model.
#pragma once

#include <string>

#include "runtime/core/status.h"

namespace kiln::tools {

struct OpModel {
  std::string path;         // the written model
  std::string description;  // "MatMul [128, 768] x [768, 3072] float32"
  double flops = 0;         // arithmetic work of one run
  double bytes = 0;         // minimum bytes moved by one run (inputs + weights + outputs)
};

// The ops `make_op_model` knows, with the meaning of --shape for each (for --help).
const char* op_model_help();

// Writes a model for `op` with `shape` (comma-separated integers, see op_model_help()) and dtype
// ("float32" or "float16") to `dir`/op.onnx. Usage errors (unknown op, bad shape) are
// InvalidArgument.
Expected<OpModel> make_op_model(const std::string& op, const std::string& shape,
                                const std::string& dtype, const std::string& dir);

}  // namespace kiln::tools
