// The level-1 ("basic") pass list (see pass.h and basic_passes.h): cleanups first, then constant
// and shape folding until the shape chains are constants, then the redundant pairs (which
// folding may expose) and the MatMul + Add fusion, and a last folding round.
#include "graph/passes/basic_passes.h"

#include "graph/passes/pass.h"

namespace kiln::passes {

void add_basic_passes(PassManager& pm) {
  pm.add(make_identity_elimination());
  pm.add(make_dropout_elimination());
  pm.add(make_constant_folding());
  pm.add(make_shape_folding());
  pm.add(make_constant_folding());
  pm.add(make_redundant_pair_elimination());
  pm.add(make_constant_folding());
  pm.add(make_matmul_add_fusion());
}

}  // namespace kiln::passes
