// The level-2 ("extended", ONNX Runtime's meaning) passes: Transformer fusions into ONNX
// LayerNormalization and the com.microsoft ops ONNX Runtime's optimizer writes. One factory per
// pass, each defined in its own file; add_extended_passes (extended_passes.cpp) lists them in
// order. Each counts what it fused in PassStats under the op name ("Attention", "Gelu", ...);
// a fusion that absorbs a node another fusion counted takes it off that count, so the counts
// describe the final graph, as ONNX Runtime's optimizer reports them.
#pragma once

#include <memory>

#include "graph/passes/pass.h"

namespace kiln::passes {

// ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add -> LayerNormalization; the RMS spelling
// (no mean) -> SimplifiedLayerNormalization.
std::unique_ptr<Pass> make_layer_norm_fusion();
// Erf form -> com.microsoft Gelu; tanh form -> FastGelu.
std::unique_ptr<Pass> make_gelu_fusion();
// Add(x, bias) + Gelu -> BiasGelu; Add(x, bias) + FastGelu -> FastGelu(x, bias).
std::unique_ptr<Pass> make_bias_gelu_fusion();
// Add(a, b) [+ Add(bias)] + LayerNormalization -> SkipLayerNormalization, and the
// SimplifiedLayerNormalization counterpart -> SkipSimplifiedLayerNormalization.
std::unique_ptr<Pass> make_skip_layer_norm_fusion();
// Word + position (+ segment) embedding Gathers, Adds, LayerNormalization ->
// EmbedLayerNormalization.
std::unique_ptr<Pass> make_embed_layer_norm_fusion();
// Multi-head self-attention subgraphs -> com.microsoft Attention.
std::unique_ptr<Pass> make_attention_fusion();

}  // namespace kiln::passes
