// The level-all pass list (see pass.h). Filled in by the passes of this level.
#include "graph/passes/pass.h"

namespace kiln::passes {

void add_all_passes(PassManager& /*pm*/) {}

}  // namespace kiln::passes
