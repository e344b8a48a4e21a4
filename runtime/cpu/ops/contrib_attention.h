// The part of com.microsoft Attention that follows its input projection (contrib_attention.cpp),
// shared by Attention (float SGEMM projection) and QAttention (int8 GEMM projection,
// contrib_qattention.cpp).
#pragma once

#include <cstdint>

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/cpu/kernel.h"

namespace kiln::cpu {

// An Attention node whose projection is done: proj [batch * seq, 2 * qk_hidden + v_hidden]
// float32 holds input x weights + bias (the Q, K and V columns side by side).
struct AttentionProjected {
  int64_t batch = 0, seq = 0, heads = 0;
  int64_t qk_hidden = 0, v_hidden = 0;     // Q's (= K's) and V's hidden sizes
  const Tensor* mask = nullptr;            // mask_index (any of Attention's forms)
  const Tensor* past = nullptr;            // [2, batch, heads, past_seq, head_size]
  const Tensor* attention_bias = nullptr;  // [batch or 1, heads or 1, seq, past_seq + seq]
  DType out_dtype = DType::kFloat32;       // of output and present (a floating type)
};

// Splits proj into heads, puts past in front of K and V, runs the attention (attributes
// unidirectional, mask_filter_value and scale read from ctx) and writes output 0 [batch, seq,
// v_hidden] and, when wanted, present (output 1). Errors name the node (bad past / mask shapes).
Status attention_from_projection(OpContext& ctx, const AttentionProjected& a, const Tensor& proj);

}  // namespace kiln::cpu
