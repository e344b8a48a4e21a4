// ONNX Runtime contrib ops (domain com.microsoft) on the CPU reference path, plus the two ops
// ONNX Runtime registers as contrib ops in the default domain: SimplifiedLayerNormalization and
// LayerNormalization below opset 17. The kernels live in contrib_*.cpp.
#include <climits>

#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

// contrib_elementwise.cpp
Status contrib_gelu_kernel(OpContext& ctx);
Status contrib_bias_gelu_kernel(OpContext& ctx);
Status contrib_fast_gelu_kernel(OpContext& ctx);
Status contrib_quick_gelu_kernel(OpContext& ctx);
Status contrib_bias_add_kernel(OpContext& ctx);
// contrib_norm.cpp
Status contrib_skip_layer_norm_kernel(OpContext& ctx);
Status contrib_skip_simplified_layer_norm_kernel(OpContext& ctx);
Status simplified_layer_norm_kernel(OpContext& ctx);
Status contrib_embed_layer_norm_kernel(OpContext& ctx);
// contrib_matmul.cpp
Status contrib_fused_matmul_kernel(OpContext& ctx);
Status contrib_fused_gemm_kernel(OpContext& ctx);
Status contrib_matmul_integer_to_float_kernel(OpContext& ctx);
Status contrib_dynamic_quantize_matmul_kernel(OpContext& ctx);
// contrib_conv.cpp
Status contrib_fused_conv_kernel(OpContext& ctx);
// contrib_attention.cpp
Status contrib_attention_kernel(OpContext& ctx);
Status contrib_multi_head_attention_kernel(OpContext& ctx);
// contrib_qattention.cpp
Status contrib_qattention_kernel(OpContext& ctx);
// contrib_qgemm.cpp
Status contrib_qgemm_kernel(OpContext& ctx);
// reduction_norm.cpp: ONNX LayerNormalization (opset 17), whose semantics ONNX Runtime's
// default-domain contrib LayerNormalization (opsets 1-16) shares.
Status layer_norm_kernel(OpContext& ctx);

void register_contrib_kernels(KernelRegistry& r) {
  const std::string ms = "com.microsoft";
  r.add(ms, "Gelu", contrib_gelu_kernel);
  r.add(ms, "BiasGelu", contrib_bias_gelu_kernel);
  r.add(ms, "FastGelu", contrib_fast_gelu_kernel);
  r.add(ms, "QuickGelu", contrib_quick_gelu_kernel);
  r.add(ms, "BiasAdd", contrib_bias_add_kernel);
  r.add(ms, "SkipLayerNormalization", contrib_skip_layer_norm_kernel);
  r.add(ms, "SkipSimplifiedLayerNormalization", contrib_skip_simplified_layer_norm_kernel);
  r.add(ms, "EmbedLayerNormalization", contrib_embed_layer_norm_kernel);
  r.add(ms, "FusedMatMul", contrib_fused_matmul_kernel);
  r.add(ms, "FusedGemm", contrib_fused_gemm_kernel);
  r.add(ms, "MatMulIntegerToFloat", contrib_matmul_integer_to_float_kernel);
  r.add(ms, "DynamicQuantizeMatMul", contrib_dynamic_quantize_matmul_kernel);
  r.add(ms, "FusedConv", contrib_fused_conv_kernel);
  r.add(ms, "Attention", contrib_attention_kernel);
  r.add(ms, "MultiHeadAttention", contrib_multi_head_attention_kernel);
  r.add(ms, "QAttention", contrib_qattention_kernel);
  r.add(ms, "QGemm", contrib_qgemm_kernel);
  // Default domain, as ONNX Runtime registers them (the ONNX LayerNormalization kernel covers
  // opset 17 and later in reduction.cpp).
  r.add("", "SimplifiedLayerNormalization", simplified_layer_norm_kernel);
  r.add("", "LayerNormalization", layer_norm_kernel, 1, 16);
}

}  // namespace kiln::cpu
