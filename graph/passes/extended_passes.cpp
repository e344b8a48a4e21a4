// The level-extended pass list (see pass.h). Filled in by the passes of this level.
#include "graph/passes/pass.h"

namespace kiln::passes {

void add_extended_passes(PassManager& /*pm*/) {}

}  // namespace kiln::passes
