// The level-99 ("all", ONNX Runtime's meaning) passes: fusions that ONNX Runtime's optimizer
// applies beyond the Transformer fusions of level 2. One factory per pass, each defined in its
// own file; add_all_passes (all_passes.cpp) lists them in order. Each counts what it fused in
// PassStats under the op name it wrote ("FusedConv", "MatMulIntegerToFloat") or, for folds that
// write no new op, under the pass's own counter ("ConvBatchNormalization").
#pragma once

#include <memory>

#include "graph/passes/pass.h"

namespace kiln::passes {

// Conv(X, W, B?) + BatchNormalization(scale, bias, mean, var constant) -> Conv(X, W', B') with
// the normalization folded into the weights (ONNX Runtime's ConvBNFusion). Target independent.
std::unique_ptr<Pass> make_conv_bn_fusion();
// Conv + Relu / Tanh / Sigmoid / LeakyRelu / HardSigmoid / Clip -> com.microsoft FusedConv
// (attributes activation, activation_params), only for targets whose kernels run FusedConv
// (today: "cpu", once the CPU registry holds FusedConv). `assume_kernel` skips the registry check
// (tests of the rewrite itself).
std::unique_ptr<Pass> make_conv_activation_fusion(bool assume_kernel = false);
// MatMulInteger + Cast(float) + Mul(Mul(a_scale, b_scale)) [+ Add(bias)] ->
// com.microsoft MatMulIntegerToFloat, the QOperator form quantize_dynamic writes.
std::unique_ptr<Pass> make_matmul_integer_to_float_fusion();
// DynamicQuantizeLinear + MatMulIntegerToFloat -> com.microsoft DynamicQuantizeMatMul where the
// quantized activation feeds that one MatMul (a shared one is quantized once, left unfused).
std::unique_ptr<Pass> make_dynamic_quantize_matmul_fusion();
// Chains/trees of float32 elementwise nodes -> ai.kiln FusedElementwise (one kernel per tree;
// runtime/device/fused_program.h), only when PassContext::session_only_ops and for the cpu,
// opencl and vulkan targets (`assume_target` skips the target check, for tests).
std::unique_ptr<Pass> make_elementwise_chain_fusion(bool assume_target = false);

}  // namespace kiln::passes
