// CPU kernel for com.microsoft QGemm (what ONNX Runtime's static QOperator quantization and its
// QDQ fusion make of Gemm with a bias):
//   QGemm(A, a_scale, a_zero_point, B, b_scale, b_zero_point, C?, y_scale?, y_zero_point?)
// with attributes alpha, transA, transB. A and B uint8 / int8 ([M, K] / [K, N] after the
// transposes), a per-tensor A scale / zero point, a per-tensor or per-column ([N]) B scale / zero
// point, C an int32 bias broadcastable to [M, N].
//
// Semantics, as ONNX Runtime's CPU kernel (contrib_ops/cpu/quantization/qgemm.cc with MLAS):
//   acc(m, n)  = C(m, n) + sum_k (A(m, k) - a_zp) * (B(k, n) - b_zp[n])   (int32, wrapping)
//   scale[n]   = alpha * a_scale * b_scale[n]  (float, left to right), then / y_scale if given
//   y (float)  = float(acc) * scale[n]                                   (y_scale absent)
//   y (8-bit)  = clamp(nearbyint(float(acc) * scale[n]) + y_zp, qmin, qmax)  (y_scale given)
// every step in float32, so the outputs equal ONNX Runtime's bit for bit. The integer products
// run on the fast int8 GEMM (runtime/cpu/fast/qgemm.h; a constant B is packed once and cached)
// unless KILN_CPU_GEMM=ref (or KILN_CPU_QGEMM=ref) selects the reference loops of gemm_ref.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/cpu/fast/qgemm.h"
#include "runtime/cpu/fast/qgemm_ops.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/gemm_ref.h"
#include "runtime/cpu/ops/packed_weights.h"
#include "runtime/cpu/output_alloc.h"

namespace kiln::cpu {

namespace {

bool is_8bit(DType t) {
  return t == DType::kUInt8 || t == DType::kInt8;
}

// The single value of a per-tensor parameter (scalar or one element) as int32 / float.
int32_t zp_value(const Tensor& t) {
  return t.dtype() == DType::kInt8 ? static_cast<int32_t>(t.data<int8_t>()[0])
                                   : static_cast<int32_t>(t.data<uint8_t>()[0]);
}

bool scalar_or_one(const Tensor& t) {
  return t.numel() == 1 && (t.shape().empty() || t.shape().size() == 1);
}

template <typename TA, typename TB>
void ref_i32(int64_t M, int64_t N, int64_t K, const void* a, int64_t a_rs, int64_t a_cs,
             const int32_t* a_zp, const void* b, int64_t b_rs, int64_t b_cs, const int32_t* b_zp,
             int64_t b_zp_stride, int32_t* c) {
  gemm_ref_i32(M, N, K, static_cast<const TA*>(a), a_rs, a_cs, a_zp, 0, static_cast<const TB*>(b),
               b_rs, b_cs, b_zp, b_zp_stride, c, N);
}

}  // namespace

Status contrib_qgemm_kernel(OpContext& ctx) {
  for (size_t i = 0; i < 6; ++i)
    if (!ctx.has_input(i))
      return ctx.invalid("needs inputs A, a_scale, a_zero_point, B, b_scale and b_zero_point");
  const Tensor& a = ctx.input(0);
  const Tensor& a_scale = ctx.input(1);
  const Tensor& a_zp = ctx.input(2);
  const Tensor& b = ctx.input(3);
  const Tensor& b_scale = ctx.input(4);
  const Tensor& b_zp = ctx.input(5);
  const Tensor* c = ctx.has_input(6) ? &ctx.input(6) : nullptr;
  const Tensor* y_scale = ctx.has_input(7) ? &ctx.input(7) : nullptr;
  const Tensor* y_zp = ctx.has_input(8) ? &ctx.input(8) : nullptr;

  if (!is_8bit(a.dtype()) || !is_8bit(b.dtype()))
    return ctx.invalid("A and B must be uint8 or int8");
  if (a.rank() != 2 || b.rank() != 2)
    return ctx.invalid("A and B must be 2-D, got " + shape_to_string(a.shape()) + " and " +
                       shape_to_string(b.shape()));
  const bool ta = ctx.attr_int("transA", 0) != 0, tb = ctx.attr_int("transB", 0) != 0;
  const float alpha = ctx.attr_float("alpha", 1.0f);
  const int64_t M = ta ? a.shape()[1] : a.shape()[0];
  const int64_t K = ta ? a.shape()[0] : a.shape()[1];
  const int64_t N = tb ? b.shape()[0] : b.shape()[1];
  const int64_t Kb = tb ? b.shape()[1] : b.shape()[0];
  if (K != Kb)
    return ctx.invalid("inner dimensions differ: A " + shape_to_string(a.shape()) +
                       " (transA=" + std::to_string(ta) + "), B " + shape_to_string(b.shape()) +
                       " (transB=" + std::to_string(tb) + ")");

  if (a_scale.dtype() != DType::kFloat32 || !scalar_or_one(a_scale))
    return ctx.invalid("a_scale must be a float scalar or one-element 1-D tensor");
  if (a_zp.dtype() != a.dtype() || !scalar_or_one(a_zp))
    return ctx.invalid("a_zero_point must be a scalar or one-element 1-D tensor of A's type");
  if (b_scale.dtype() != DType::kFloat32) return ctx.invalid("b_scale must be float");
  if (b_zp.dtype() != b.dtype()) return ctx.invalid("b_zero_point must have B's type");
  auto per_col_ok = [&](const Tensor& t) {
    return t.shape().empty() || (t.rank() == 1 && (t.shape()[0] == 1 || t.shape()[0] == N));
  };
  if (!per_col_ok(b_scale) || !per_col_ok(b_zp) || b_scale.shape() != b_zp.shape())
    return ctx.invalid(
        "b_scale " + shape_to_string(b_scale.shape()) + " and b_zero_point " +
        shape_to_string(b_zp.shape()) +
        " must have the same shape: a scalar, [1] or [N] with N = " + std::to_string(N));
  if (y_scale && (y_scale->dtype() != DType::kFloat32 || !scalar_or_one(*y_scale)))
    return ctx.invalid("y_scale must be a float scalar or one-element 1-D tensor");
  if (y_zp && !y_scale) return ctx.invalid("y_zero_point is given without y_scale");
  if (y_scale && !y_zp)
    return ctx.invalid("y_scale is given without y_zero_point (the quantized output type)");
  if (y_zp && (!is_8bit(y_zp->dtype()) || !scalar_or_one(*y_zp)))
    return ctx.invalid("y_zero_point must be a uint8 or int8 scalar or one-element 1-D tensor");
  // C: int32, broadcastable to [M, N] (scalar, [N], [1, N], [M, 1], [M], [M, N]).
  int64_t c_rs = 0, c_cs = 0;
  if (c) {
    if (c->dtype() != DType::kInt32) return ctx.invalid("C must be int32");
    const Shape& cs = c->shape();
    const int64_t cm = cs.size() == 2 ? cs[0] : 1;
    const int64_t cn = cs.empty() ? 1 : cs.back();
    if (cs.size() > 2 || (cm != 1 && cm != M) || (cn != 1 && cn != N))
      return ctx.invalid("C has shape " + shape_to_string(cs) + "; it must broadcast to [" +
                         std::to_string(M) + ", " + std::to_string(N) + "]");
    c_rs = cm == 1 ? 0 : cn;
    c_cs = cn == 1 ? 0 : 1;
  }

  const DType out_type = y_zp ? y_zp->dtype() : DType::kFloat32;
  KILN_ASSIGN_OR_RETURN(Tensor * y, allocate_output_uninit(ctx, 0, out_type, {M, N}));
  if (M == 0 || N == 0) return Status::ok();

  // int32 accumulators.
  std::vector<int32_t> acc(static_cast<size_t>(M * N), 0);
  const int32_t azp = zp_value(a_zp);
  const int64_t nb = b_zp.numel();
  std::vector<int32_t> bzp(static_cast<size_t>(nb));
  for (int64_t i = 0; i < nb; ++i)
    bzp[i] = b.dtype() == DType::kInt8 ? static_cast<int32_t>(b_zp.data<int8_t>()[i])
                                       : static_cast<int32_t>(b_zp.data<uint8_t>()[i]);
  const int64_t bzp_stride = nb == 1 ? 0 : 1;
  const int64_t a_rs = ta ? 1 : K, a_cs = ta ? M : 1;
  const int64_t b_rs = tb ? 1 : N, b_cs = tb ? K : 1;
  if (K > 0) {
    if (fast_qgemm_enabled()) {
      // The fast GEMM reads A row-contiguous: transA takes a transposed copy.
      std::vector<uint8_t> at;
      const void* ad = a.raw_data();
      if (ta) {
        at.resize(static_cast<size_t>(M * K));
        const uint8_t* src = static_cast<const uint8_t*>(a.raw_data());
        for (int64_t k = 0; k < K; ++k)
          for (int64_t m = 0; m < M; ++m) at[m * K + k] = src[k * M + m];
        ad = at.data();
      }
      fast::QOperand qa{ad, a.dtype() == DType::kInt8, K, 1};
      fast::QOperand qb{b.raw_data(), b.dtype() == DType::kInt8, b_rs, b_cs};
      const fast::QZeroPoint az{&azp, 0}, bz{bzp.data(), bzp_stride};
      const std::shared_ptr<const fast::PackedQB> packed = constant_packed_qb(ctx, 3, K, N, tb);
      const bool ok = packed
                          ? fast::qgemm_packed(M, qa, az, *packed, bz, acc.data(), N, &ctx.pool())
                          : fast::qgemm(M, N, K, qa, az, qb, bz, acc.data(), N, &ctx.pool());
      if (!ok) return ctx.runtime("out of memory for the int8 GEMM's packing buffers");
    } else {
      const bool as = a.dtype() == DType::kInt8, bs = b.dtype() == DType::kInt8;
      auto* f = as ? (bs ? ref_i32<int8_t, int8_t> : ref_i32<int8_t, uint8_t>)
                   : (bs ? ref_i32<uint8_t, int8_t> : ref_i32<uint8_t, uint8_t>);
      f(M, N, K, a.raw_data(), a_rs, a_cs, &azp, b.raw_data(), b_rs, b_cs, bzp.data(), bzp_stride,
        acc.data());
    }
  }
  // acc + C (int32, wrapping), as MLAS accumulates onto the broadcast bias.
  const int32_t* cd = c ? c->data<int32_t>() : nullptr;
  auto sum = [&](int64_t m, int64_t n) {
    if (!cd) return acc[m * N + n];
    return static_cast<int32_t>(static_cast<uint32_t>(acc[m * N + n]) +
                                static_cast<uint32_t>(cd[m * c_rs + n * c_cs]));
  };

  // Output scales in ONNX Runtime's order: (alpha * a_scale) * b_scale[n], then / y_scale.
  const float as_v = a_scale.data<float>()[0];
  const int64_t ns = b_scale.numel();
  std::vector<float> scale(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    float s = alpha * as_v * b_scale.data<float>()[ns == 1 ? 0 : n];
    if (y_scale) s /= y_scale->data<float>()[0];
    scale[n] = s;
  }
  if (!y_zp) {
    float* yd = y->data<float>();
    ctx.parallel_for(M, 16, [&](int64_t mb, int64_t me) {
      for (int64_t m = mb; m < me; ++m)
        for (int64_t n = 0; n < N; ++n) yd[m * N + n] = static_cast<float>(sum(m, n)) * scale[n];
    });
    return Status::ok();
  }
  const bool ys = y_zp->dtype() == DType::kInt8;
  const int32_t yz = zp_value(*y_zp);
  const float lo = static_cast<float>((ys ? -128 : 0) - yz);
  const float hi = static_cast<float>((ys ? 127 : 255) - yz);
  void* yd = y->raw_data();
  ctx.parallel_for(M, 16, [&](int64_t mb, int64_t me) {
    for (int64_t m = mb; m < me; ++m)
      for (int64_t n = 0; n < N; ++n) {
        // MLAS clamps to [qmin - zp, qmax - zp] before rounding half to even (the same values
        // as rounding first: the bounds are integers).
        float v = static_cast<float>(sum(m, n)) * scale[n];
        v = v >= lo ? std::min(v, hi) : lo;  // NaN: qmin, as the vectorised MLAS path
        const int32_t q = static_cast<int32_t>(std::nearbyint(v)) + yz;
        if (ys)
          static_cast<int8_t*>(yd)[m * N + n] = static_cast<int8_t>(q);
        else
          static_cast<uint8_t*>(yd)[m * N + n] = static_cast<uint8_t>(q);
      }
  });
  return Status::ok();
}

}  // namespace kiln::cpu
