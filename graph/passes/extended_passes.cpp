// The level-2 ("extended") pass list (see extended_passes.h). Order follows ONNX Runtime's BERT
// optimizer: normalizations and activations first, then attention (which starts from the
// normalized hidden states), the embedding (which also gives attention its mask), and last the
// fusions that fold a bias Add into the fused nodes.
#include "graph/passes/extended_passes.h"

#include "graph/passes/pass.h"

namespace kiln::passes {

std::unique_ptr<Pass> make_qdq_fusion();  // qdq_fusion.cpp

void add_extended_passes(PassManager& pm) {
  pm.add(make_qdq_fusion());
  pm.add(make_layer_norm_fusion());
  pm.add(make_gelu_fusion());
  pm.add(make_attention_fusion());
  pm.add(make_skip_layer_norm_fusion());
  pm.add(make_embed_layer_norm_fusion());
  pm.add(make_bias_gelu_fusion());
}

}  // namespace kiln::passes
