// The level-2 ("extended") pass list (see extended_passes.h). Order follows ONNX Runtime's BERT
// optimizer: normalizations and activations first, then attention (which starts from the
// normalized hidden states), the embedding (which also gives attention its mask), and last the
// fusions that fold a bias Add into the fused nodes. The dynamic-quantization MatMul fusions
// (MatMulIntegerToFloat, DynamicQuantizeMatMul; declared in all_passes.h) run right after the QDQ
// fusion, at level 2 as in ONNX Runtime, so the int8 matmuls' bias Adds join their GEMM output
// stage before BiasGelu / SkipLayerNormalization look at them; the level-99 list runs them again
// (no-ops by then).
#include "graph/passes/extended_passes.h"

#include "graph/passes/all_passes.h"
#include "graph/passes/pass.h"

namespace kiln::passes {

std::unique_ptr<Pass> make_qdq_fusion();  // qdq_fusion.cpp

void add_extended_passes(PassManager& pm) {
  pm.add(make_qdq_fusion());
  pm.add(make_matmul_integer_to_float_fusion());
  pm.add(make_dynamic_quantize_matmul_fusion());
  pm.add(make_layer_norm_fusion());
  pm.add(make_gelu_fusion());
  pm.add(make_attention_fusion());
  pm.add(make_skip_layer_norm_fusion());
  pm.add(make_embed_layer_norm_fusion());
  pm.add(make_bias_gelu_fusion());
}

}  // namespace kiln::passes
