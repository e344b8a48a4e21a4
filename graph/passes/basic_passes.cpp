// The level-basic pass list (see pass.h). Filled in by the passes of this level.
#include "graph/passes/pass.h"

namespace kiln::passes {

void add_basic_passes(PassManager& /*pm*/) {}

}  // namespace kiln::passes
