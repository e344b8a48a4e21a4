// CPU kernel for ONNX Runtime's QAttention (com.microsoft): Attention whose input projection is
// an 8-bit integer GEMM. What onnxruntime.quantization.quantize_dynamic makes of an Attention
// node: DynamicQuantizeLinear(input) -> QAttention(input_q, weight_q, bias, input_scale,
// weight_scale, mask_index?, input_zero_point?, weight_zero_point?, past?).
//
// The projection follows ONNX Runtime's CPU kernel (attention_quant.cc):
//   acc(r, c)  = sum_k (input(r, k) - input_zp) * (weight(k, c) - weight_zp[c])   (int32)
//   proj(r, c) = acc(r, c) * (weight_scale[c] * input_scale) + bias[c]             (float)
// with the scale product rounded to float first and the multiply and add rounded separately
// (ONNX Runtime's scale-bias output processor). acc runs on the fast int8 GEMM (qgemm_ops.h;
// a constant weight is packed once), or on the reference loops of gemm_ref.h under
// KILN_CPU_GEMM=ref / KILN_CPU_QGEMM=ref, bit-exact either way. The rest (heads, past, mask,
// softmax, present) is Attention's own code (attention_from_projection, contrib_attention.h).
#include <algorithm>
#include <string>
#include <vector>

#include "runtime/cpu/fast/qgemm_ops.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/contrib_attention.h"
#include "runtime/cpu/ops/gemm_ref.h"

namespace kiln::cpu {

namespace {

bool is_8bit(DType t) {
  return t == DType::kUInt8 || t == DType::kInt8;
}

// Values of a scalar / 1-element tensor or of a [cols] vector (per column) as int32 or float.
// `per_column_ok`: whether [cols] is allowed.
template <typename T>
Status read_param(const OpContext& ctx, const Tensor& t, int64_t cols, bool per_column_ok,
                  const std::string& what, std::vector<T>* out) {
  const bool one = t.numel() == 1 && t.rank() <= 1;
  const bool per_col = per_column_ok && t.rank() == 1 && t.dim(0) == cols;
  if (!one && !per_col)
    return ctx.invalid(what + " of shape " + shape_to_string(t.shape()) + " must be a scalar" +
                       (per_column_ok ? " or 1-D of size " + std::to_string(cols) : std::string()));
  out->resize(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) (*out)[i] = static_cast<T>(t.get_as_double(i));
  return Status::ok();
}

// acc [rows, cols] = (x - x_zp) (w - w_zp) on the reference loops.
template <typename TA, typename TB>
void ref_projection(const OpContext& ctx, const Tensor& x, const Tensor& w, int64_t rows,
                    const int32_t* xzp, const int32_t* wzp, int64_t wzp_stride, int32_t* acc) {
  const int64_t K = w.dim(0), N = w.dim(1);
  const TA* a = x.data<TA>();
  const TB* b = w.data<TB>();
  ctx.parallel_for(rows, gemm_row_grain(N, K), [&](int64_t lo, int64_t hi) {
    gemm_ref_i32_rows<TA, TB>(lo, hi, N, K, a, K, 1, xzp, 0, b, N, 1, wzp, wzp_stride, acc, N);
  });
}

}  // namespace

// QAttention(input, weight, bias, input_scale, weight_scale, mask_index?, input_zero_point?,
// weight_zero_point?, past?) -> output, present.
Status contrib_qattention_kernel(OpContext& ctx) {
  for (size_t i = 0; i < 5; ++i)
    if (!ctx.has_input(i))
      return ctx.invalid("needs inputs input, weight, bias, input_scale and weight_scale");
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor& bias = ctx.input(2);
  const Tensor& x_scale = ctx.input(3);
  const Tensor& w_scale = ctx.input(4);
  const Tensor* mask = ctx.has_input(5) ? &ctx.input(5) : nullptr;
  const Tensor* x_zp = ctx.has_input(6) ? &ctx.input(6) : nullptr;
  const Tensor* w_zp = ctx.has_input(7) ? &ctx.input(7) : nullptr;
  const Tensor* past = ctx.has_input(8) ? &ctx.input(8) : nullptr;
  const int64_t heads = ctx.attr_int("num_heads", 0);
  if (heads <= 0) return ctx.invalid("num_heads must be positive");
  if (ctx.attr_int("do_rotary", 0) != 0) return ctx.unsupported_here("do_rotary");
  if (ctx.attr_int("past_present_share_buffer", 0) != 0)
    return ctx.unsupported_here("past_present_share_buffer");
  if (!is_8bit(x.dtype()) || !is_8bit(w.dtype()))
    return ctx.invalid(std::string("input and weight must be uint8 or int8, got ") +
                       dtype_name(x.dtype()) + " and " + dtype_name(w.dtype()));
  if (x.rank() != 3)
    return ctx.invalid("input must be 3-D [batch, seq, hidden], got " + shape_to_string(x.shape()));
  if (w.rank() != 2 || w.dim(0) != x.dim(2))
    return ctx.invalid("weight of shape " + shape_to_string(w.shape()) + " must be 2-D with " +
                       std::to_string(x.dim(2)) + " rows (the input's hidden size)");
  const int64_t cols = w.dim(1), hidden = cols / 3;
  if (cols % 3 != 0 || hidden <= 0 || hidden % heads != 0)
    return ctx.invalid("weight's column count " + std::to_string(cols) +
                       " must be 3 * hidden with hidden positive and divisible by num_heads " +
                       std::to_string(heads));
  if (bias.dtype() != DType::kFloat32 || bias.rank() != 1 || bias.dim(0) != cols)
    return ctx.invalid("bias must be float 1-D of size " + std::to_string(cols) + ", got " +
                       dtype_name(bias.dtype()) + " " + shape_to_string(bias.shape()));
  if (x_scale.dtype() != DType::kFloat32 || w_scale.dtype() != DType::kFloat32)
    return ctx.invalid("input_scale and weight_scale must be float");
  if (x_zp && x_zp->dtype() != x.dtype())
    return ctx.invalid("input_zero_point must have the input's dtype");
  if (w_zp && w_zp->dtype() != w.dtype())
    return ctx.invalid("weight_zero_point must have the weight's dtype");
  std::vector<float> xs, ws;
  KILN_RETURN_IF_ERROR(read_param(ctx, x_scale, cols, false, "input_scale", &xs));
  KILN_RETURN_IF_ERROR(read_param(ctx, w_scale, cols, true, "weight_scale", &ws));
  std::vector<int32_t> xz, wz;
  if (x_zp) KILN_RETURN_IF_ERROR(read_param(ctx, *x_zp, cols, false, "input_zero_point", &xz));
  if (w_zp) KILN_RETURN_IF_ERROR(read_param(ctx, *w_zp, cols, true, "weight_zero_point", &wz));
  // ONNX Runtime's dequantization scales: weight_scale * input_scale, in float.
  std::vector<float> dq(ws.size());
  for (size_t i = 0; i < ws.size(); ++i) dq[i] = ws[i] * xs[0];

  const int64_t rows = x.dim(0) * x.dim(1);
  KILN_ASSIGN_OR_RETURN(int64_t n_proj, checked_numel({rows, cols}));
  std::vector<int32_t> acc(static_cast<size_t>(n_proj));
  if (n_proj > 0 && x.dim(2) > 0) {
    if (fast_qgemm_enabled()) {
      auto plan = plan_matmul({rows, x.dim(2)}, w.shape());
      if (!plan) return ctx.invalid(plan.status().message());
      QMatMulZeroPoint az, bz;
      if (!xz.empty()) az.values = xz.data();
      if (!wz.empty()) {
        bz.values = wz.data();
        bz.stride = wz.size() > 1 ? 1 : 0;
      }
      KILN_RETURN_IF_ERROR(qmatmul_i32(ctx, *plan, x, w, 1, az, bz, acc.data()));
    } else {
      const int32_t* azp = xz.empty() ? nullptr : xz.data();
      const int32_t* bzp = wz.empty() ? nullptr : wz.data();
      const int64_t bzs = wz.size() > 1 ? 1 : 0;
      const bool a_s8 = x.dtype() == DType::kInt8, b_s8 = w.dtype() == DType::kInt8;
      if (!a_s8 && b_s8)
        ref_projection<uint8_t, int8_t>(ctx, x, w, rows, azp, bzp, bzs, acc.data());
      else if (!a_s8)
        ref_projection<uint8_t, uint8_t>(ctx, x, w, rows, azp, bzp, bzs, acc.data());
      else if (b_s8)
        ref_projection<int8_t, int8_t>(ctx, x, w, rows, azp, bzp, bzs, acc.data());
      else
        ref_projection<int8_t, uint8_t>(ctx, x, w, rows, azp, bzp, bzs, acc.data());
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor proj, Tensor::create(DType::kFloat32, {rows, cols}));
  {
    float* pd = proj.data<float>();
    const float* bd = bias.data<float>();
    const bool per_col = dq.size() > 1;
    ctx.parallel_for(
        rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, cols)), [&](int64_t lo, int64_t hi) {
          for (int64_t r = lo; r < hi; ++r)
            for (int64_t c = 0; c < cols; ++c) {
              const float scaled = static_cast<float>(acc[r * cols + c]) * dq[per_col ? c : 0];
              pd[r * cols + c] = scaled + bd[c];
            }
        });
  }
  AttentionProjected a;
  a.batch = x.dim(0);
  a.seq = x.dim(1);
  a.heads = heads;
  a.qk_hidden = hidden;
  a.v_hidden = hidden;
  a.mask = mask;
  a.past = past;
  a.out_dtype = DType::kFloat32;
  return attention_from_projection(ctx, a, proj);
}

}  // namespace kiln::cpu
