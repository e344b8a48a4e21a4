// Float16 conversion (see float16.h).
#include "graph/passes/float16.h"

namespace kiln::passes {

Status convert_to_float16(ir::Graph& g, const Float16Options& options, PassStats* stats) {
  (void)g;
  (void)options;
  (void)stats;
  return unsupported("precision fp16 is not implemented yet");
}

}  // namespace kiln::passes
