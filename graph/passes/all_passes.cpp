// The level-99 ("all") pass list (see pass.h and all_passes.h), run after levels 1 and 2:
// Conv + BatchNormalization folding first (so that the activation after a folded BN meets its
// Conv), then Conv + activation, then the dynamic-quantization MatMul fusions
// (MatMulIntegerToFloat, then DynamicQuantizeMatMul where the quantized activation is not shared),
// then elementwise chains into FusedElementwise (last: it takes what the others left).
//
// Conv + BatchNormalization lives here, not at level 1 where ONNX Runtime puts ConvBNFusion: the
// device test suites and benchmarks compare level-1 graphs, which keep the BatchNormalization
// nodes the exporters wrote; moving it is one line in basic_passes.cpp (the pass is target
// independent, as level-1 passes must be).
#include "graph/passes/all_passes.h"

#include "graph/passes/pass.h"

namespace kiln::passes {

void add_all_passes(PassManager& pm) {
  pm.add(make_conv_bn_fusion());
  pm.add(make_conv_activation_fusion());
  pm.add(make_matmul_integer_to_float_fusion());
  pm.add(make_dynamic_quantize_matmul_fusion());
  pm.add(make_elementwise_chain_fusion());
}

}  // namespace kiln::passes
