// Float16 conversion for SessionOptions::precision = "fp16": float32 initializers and
// activations become float16, with Cast nodes at the boundaries so that the model's inputs and
// outputs keep their float32 types, and ops that need float32 range or precision (the keep list)
// stay float32 behind Casts.
#pragma once

#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "graph/passes/pass.h"
#include "runtime/core/status.h"

namespace kiln::passes {

struct Float16Options {
  // Ops (by op_type, any domain) that keep float32 inputs and outputs; empty: the default list.
  std::vector<std::string> keep_float32_ops;
  // Node names that keep float32.
  std::vector<std::string> keep_float32_nodes;
};

// Rewrites `g` in place; records what it did in stats ("Float16Cast: N", ...) when not null.
Status convert_to_float16(ir::Graph& g, const Float16Options& options, PassStats* stats);

}  // namespace kiln::passes
