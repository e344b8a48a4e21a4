// CPU kernels for the ONNX Runtime matmul contrib ops: FusedMatMul (alpha, transA, transB,
// transBatchA, transBatchB), FusedGemm (Gemm + activation), MatMulIntegerToFloat and
// DynamicQuantizeMatMul (A quantized to uint8 the way ONNX Runtime does). Float products
// accumulate over k in ascending order (gemm_ref.h), so results do not depend on the thread
// count; the integer products of the quantized ops run on the fast int8 GEMM
// (runtime/cpu/fast/qgemm.h, constant B packed once, bit-exact) unless KILN_CPU_GEMM=ref selects
// the reference loops.
#include <algorithm>
#include <cmath>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/cpu/fast/qgemm_ops.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/gemm_ref.h"
#include "runtime/cpu/output_alloc.h"

namespace kiln::cpu {

namespace {

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<compute_t<T>>;

// A matmul operand as a strided view after FusedMatMul's transposes: logical shape `shape`
// (batch dims then the two matrix dims) and element strides `strides` into the stored data.
struct View {
  Shape shape;
  std::vector<int64_t> strides;
};

// transBatch moves dim 0 to position rank - 2 ([d0, b.., M, K] -> [b.., d0, K]); trans then
// swaps the last two dims. 1-D operands are left as they are.
View transposed_view(const Shape& s, bool trans, bool trans_batch) {
  View v{s, strides_of(s)};
  const size_t r = s.size();
  if (trans_batch && r >= 3) {
    std::rotate(v.shape.begin(), v.shape.begin() + 1, v.shape.end() - 1);
    std::rotate(v.strides.begin(), v.strides.begin() + 1, v.strides.end() - 1);
  }
  if (trans && r >= 2) {
    std::swap(v.shape[r - 1], v.shape[r - 2]);
    std::swap(v.strides[r - 1], v.strides[r - 2]);
  }
  return v;
}

// For each output batch index, the element offset of the operand's matrix (broadcast).
std::vector<int64_t> view_batch_offsets(const MatMulPlan& p, const View& v, bool vector) {
  const size_t nb = vector ? 0 : v.shape.size() - 2;
  Shape ob(v.shape.begin(), v.shape.begin() + static_cast<int64_t>(nb));
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(p.batch_count));
  for (BroadcastIter it(p.batch, {ob}); !it.done(); it.next()) {
    // BroadcastIter gives row-major offsets in `ob`; map them through the view's strides.
    int64_t flat = it.offset(0), off = 0;
    for (int64_t d = static_cast<int64_t>(nb) - 1; d >= 0; --d) {
      const int64_t dim = ob[static_cast<size_t>(d)];
      off += (flat % dim) * v.strides[static_cast<size_t>(d)];
      flat /= dim;
    }
    out.push_back(off);
  }
  return out;
}

// ONNX Runtime's dynamic uint8 quantization parameters (GetQuantizationParameter): the range
// always includes 0; scale 1 for an all-zero input.
void dynamic_quant_params_from_range(float mn, float mx, float* scale, uint8_t* zp) {
  *scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
  float z = 0.0f - mn / *scale;
  if (!(z >= 0.0f)) z = 0.0f;  // also NaN (an infinite range)
  z = std::min(255.0f, z);
  *zp = static_cast<uint8_t>(std::nearbyint(z));
}

void dynamic_quant_params(const float* d, int64_t n, float* scale, uint8_t* zp) {
  float mn = 0, mx = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (d[i] < mn) mn = d[i];
    if (d[i] > mx) mx = d[i];
  }
  dynamic_quant_params_from_range(mn, mx, scale, zp);
}

uint8_t quantize_u8(float x, float scale, uint8_t zp) {
  float v = std::nearbyint(x / scale) + static_cast<float>(zp);
  if (!(v >= 0.0f)) return v != v ? zp : 0;  // NaN -> zero point
  return static_cast<uint8_t>(std::min(255.0f, v));
}

// Y = (A - a_zp) x (B - b_zp) * (a_scale * b_scale[n]) + bias[n] for 8-bit A and B.
// a_scale is one value; b_scale / b_zp hold one value or one per column (stride 0 or 1).
struct QuantMatMulArgs {
  const Tensor* a = nullptr;  // uint8 / int8
  const Tensor* b = nullptr;  // uint8 / int8
  float a_scale = 1;
  int32_t a_zp = 0;
  std::vector<float> b_scale;  // size 1 or N
  std::vector<int32_t> b_zp;   // size 1 or N
  std::vector<float> bias;     // empty or N
};

// The fast path: the int32 products on the int8 GEMM (B is the node's input 1), then the scales.
// Float32 output: the scales and the bias are applied in the GEMM's output stage (no int32
// intermediate), with the same float operations as the loop below.
template <typename TY>
Status quant_matmul_fast(OpContext& ctx, const MatMulPlan& p, const QuantMatMulArgs& q, Tensor& y) {
  const int64_t N = p.N;
  QMatMulZeroPoint az, bz;
  az.values = &q.a_zp;
  bz.values = q.b_zp.data();
  bz.stride = q.b_zp.size() == 1 ? 0 : 1;
  if constexpr (std::is_same_v<TY, float>) {
    std::vector<float> scale(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n)
      scale[n] = q.a_scale * (q.b_scale.size() == 1 ? q.b_scale[0] : q.b_scale[n]);
    return qmatmul_f32(ctx, p, *q.a, *q.b, 1, az, bz, scale.data(),
                       q.bias.empty() ? nullptr : q.bias.data(), y.data<float>());
  }
  std::vector<int32_t> acc(static_cast<size_t>(p.batch_count * p.M * N));
  KILN_RETURN_IF_ERROR(qmatmul_i32(ctx, p, *q.a, *q.b, 1, az, bz, acc.data()));
  TY* yd = y.data<TY>();
  ctx.parallel_for(p.batch_count * p.M, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, N)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t r = b; r < e; ++r) {
                       const int32_t* in = acc.data() + r * N;
                       TY* row = yd + r * N;
                       for (int64_t n = 0; n < N; ++n) {
                         const float s =
                             q.a_scale * (q.b_scale.size() == 1 ? q.b_scale[0] : q.b_scale[n]);
                         float v = static_cast<float>(in[n]) * s;
                         if (!q.bias.empty()) v += q.bias[n];
                         row[n] = from_compute<TY>(v);
                       }
                     }
                   });
  return Status::ok();
}

template <typename TA, typename TB, typename TY>
Status quant_matmul_typed(OpContext& ctx, const MatMulPlan& p, const QuantMatMulArgs& q,
                          Tensor& y) {
  if (fast_qgemm_enabled()) return quant_matmul_fast<TY>(ctx, p, q, y);
  const TA* ad = q.a->data<TA>();
  const TB* bd = q.b->data<TB>();
  TY* yd = y.data<TY>();
  const auto a_off = batch_offsets(p.batch, p.a_batch, p.M * p.K);
  const auto b_off = batch_offsets(p.batch, p.b_batch, p.K * p.N);
  const int64_t M = p.M, N = p.N, K = p.K;
  std::vector<int32_t> bzp(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) bzp[n] = q.b_zp.size() == 1 ? q.b_zp[0] : q.b_zp[n];
  const int32_t azp = q.a_zp;
  ctx.parallel_for(p.batch_count * M, gemm_row_grain(N, K), [&](int64_t b, int64_t e) {
    std::vector<int32_t> acc(static_cast<size_t>(N));
    for (int64_t r = b; r < e; ++r) {
      const int64_t bi = r / M, m = r % M;
      gemm_ref_i32_rows(0, 1, N, K, ad + a_off[bi] + m * K, K, 1, &azp, 0, bd + b_off[bi], N, 1,
                        bzp.data(), 1, acc.data(), N);
      TY* row = yd + (bi * M + m) * N;
      for (int64_t n = 0; n < N; ++n) {
        const float s = q.a_scale * (q.b_scale.size() == 1 ? q.b_scale[0] : q.b_scale[n]);
        float v = static_cast<float>(acc[n]) * s;
        if (!q.bias.empty()) v += q.bias[n];
        row[n] = from_compute<TY>(v);
      }
    }
  });
  return Status::ok();
}

// One value or one per column of B (N), as float / int32; `what` names the input.
Status read_per_column(const OpContext& ctx, const Tensor& t, int64_t n, const std::string& what,
                       bool allow_per_column, std::vector<double>* out) {
  const bool scalar = t.numel() == 1 && t.rank() <= 1;
  const bool per_col = allow_per_column && t.rank() == 1 && t.dim(0) == n;
  if (!scalar && !per_col)
    return ctx.invalid("input '" + what + "' of shape " + shape_to_string(t.shape()) +
                       (allow_per_column
                            ? " must be a scalar or 1-D of B's column count " + std::to_string(n)
                            : " must be a scalar"));
  out->clear();
  if (t.dtype() == DType::kFloat32) {  // the common case, without a per-element dtype switch
    out->assign(t.data<float>(), t.data<float>() + t.numel());
    return Status::ok();
  }
  for (int64_t i = 0; i < t.numel(); ++i) out->push_back(t.get_as_double(i));
  return Status::ok();
}

// Shared by MatMulIntegerToFloat and DynamicQuantizeMatMul once A is 8-bit.
// Inputs from index `first`: b_scale, b_zero_point?, bias? (and a's parameters already in q).
Status run_quant_matmul(OpContext& ctx, QuantMatMulArgs& q, const Tensor& b_scale,
                        const Tensor* b_zp, const Tensor* bias, DType out_type) {
  const Tensor& a = *q.a;
  const Tensor& b = *q.b;
  auto plan = plan_matmul(a.shape(), b.shape());
  if (!plan) return ctx.invalid(plan.status().message());
  if (a.rank() < 2 || b.rank() < 2)
    return ctx.unsupported_here("1-D operands (A " + shape_to_string(a.shape()) + ", B " +
                                shape_to_string(b.shape()) + ")");
  const int64_t N = plan->N;
  std::vector<double> tmp;
  KILN_RETURN_IF_ERROR(read_per_column(ctx, b_scale, N, "b_scale", true, &tmp));
  q.b_scale.assign(tmp.begin(), tmp.end());
  if (b_zp) {
    if (b_zp->dtype() != b.dtype()) return ctx.invalid("b_zero_point must have B's dtype");
    KILN_RETURN_IF_ERROR(read_per_column(ctx, *b_zp, N, "b_zero_point", true, &tmp));
    q.b_zp.assign(tmp.begin(), tmp.end());
  } else {
    q.b_zp = {0};
  }
  if (bias) {
    if (bias->rank() != 1 || bias->dim(0) != N)
      return ctx.invalid("bias of shape " + shape_to_string(bias->shape()) +
                         " must be 1-D of size " + std::to_string(N));
    q.bias.clear();
    if (bias->dtype() == DType::kFloat32)
      q.bias.assign(bias->data<float>(), bias->data<float>() + N);
    else
      for (int64_t i = 0; i < N; ++i) q.bias.push_back(static_cast<float>(bias->get_as_double(i)));
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, allocate_output_uninit(ctx, 0, out_type, plan->out_shape));
  if (y->numel() == 0) return Status::ok();
  bool ok = false;
  Status st;
  auto dispatch_out = [&](auto ta, auto tb) {
    using TA = decltype(ta);
    using TB = decltype(tb);
    ok = true;
    if (out_type == DType::kFloat32)
      st = quant_matmul_typed<TA, TB, float>(ctx, *plan, q, *y);
    else if (out_type == DType::kFloat16)
      st = quant_matmul_typed<TA, TB, Half>(ctx, *plan, q, *y);
    else
      ok = false;
  };
  auto dispatch_b = [&](auto ta) {
    if (b.dtype() == DType::kUInt8) dispatch_out(ta, uint8_t{});
    if (b.dtype() == DType::kInt8) dispatch_out(ta, int8_t{});
  };
  if (a.dtype() == DType::kUInt8) dispatch_b(uint8_t{});
  if (a.dtype() == DType::kInt8) dispatch_b(int8_t{});
  if (!ok)
    return ctx.invalid(std::string("unsupported dtypes A ") + dtype_name(a.dtype()) + ", B " +
                       dtype_name(b.dtype()) + ", output " + dtype_name(out_type));
  return st;
}

bool is_8bit(DType t) {
  return t == DType::kUInt8 || t == DType::kInt8;
}

}  // namespace

// FusedMatMul(A, B) = alpha * op(A) x op(B) with numpy batch broadcasting.
Status contrib_fused_matmul_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("needs inputs A and B");
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype()) return ctx.invalid("A and B must have the same dtype");
  const float alpha = ctx.attr_float("alpha", 1.0f);
  const bool ta = ctx.attr_int("transA", 0) != 0, tb = ctx.attr_int("transB", 0) != 0;
  const bool tba = ctx.attr_int("transBatchA", 0) != 0;
  const bool tbb = ctx.attr_int("transBatchB", 0) != 0;
  if ((tba || tbb) && (a.rank() < 3 || a.rank() != b.rank()))
    return ctx.invalid("transBatchA / transBatchB need A and B of the same rank >= 3, got " +
                       shape_to_string(a.shape()) + " and " + shape_to_string(b.shape()));
  const View va = transposed_view(a.shape(), ta, tba);
  const View vb = transposed_view(b.shape(), tb, tbb);
  auto plan = plan_matmul(va.shape, vb.shape);
  if (!plan) return ctx.invalid(plan.status().message());
  const MatMulPlan& p = *plan;
  KILN_ASSIGN_OR_RETURN(Tensor * y, allocate_output_uninit(ctx, 0, a.dtype(), p.out_shape));
  if (y->numel() == 0) return Status::ok();
  // Matrix strides of each view (a 1-D A is one row, a 1-D B one column).
  const size_t ra = va.shape.size(), rb = vb.shape.size();
  const int64_t a_rs = p.a_vector ? 0 : va.strides[ra - 2], a_cs = va.strides[ra - 1];
  const int64_t b_rs = p.b_vector ? vb.strides[0] : vb.strides[rb - 2];
  const int64_t b_cs = p.b_vector ? 1 : vb.strides[rb - 1];
  const auto a_off = view_batch_offsets(p, va, p.a_vector);
  const auto b_off = view_batch_offsets(p, vb, p.b_vector);
  const int64_t M = p.M, N = p.N, K = p.K;
  bool ok = false;
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsFloat<T>) {
      using Acc = compute_t<T>;
      ok = true;
      const T* ad = a.data<T>();
      const T* bd = b.data<T>();
      T* yd = y->data<T>();
      ctx.parallel_for(p.batch_count * M, gemm_row_grain(N, K), [&](int64_t lo, int64_t hi) {
        std::vector<Acc> acc(static_cast<size_t>(N));
        for (int64_t r = lo; r < hi; ++r) {
          const int64_t bi = r / M, m = r % M;
          gemm_ref_rows<Acc>(0, 1, N, K, ad + a_off[bi] + m * a_rs, a_rs, a_cs, bd + b_off[bi],
                             b_rs, b_cs, acc.data(), N);
          T* row = yd + r * N;
          for (int64_t n = 0; n < N; ++n) row[n] = from_compute<T>(acc[n] * Acc(alpha));
        }
      });
    }
  });
  if (!ok) return ctx.invalid(std::string("unsupported dtype ") + dtype_name(a.dtype()));
  return Status::ok();
}

// FusedGemm(A, B, C?) = activation(alpha * op(A) x op(B) + beta * C), C broadcast to [M, N];
// activation: "" (none), Relu, Tanh, Sigmoid, LeakyRelu, HardSigmoid (activation_alpha/_beta).
Status contrib_fused_gemm_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("needs inputs A and B");
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Tensor* c = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  if (a.rank() != 2 || b.rank() != 2)
    return ctx.invalid("A and B must be 2-D, got " + shape_to_string(a.shape()) + " and " +
                       shape_to_string(b.shape()));
  if (b.dtype() != a.dtype() || (c && c->dtype() != a.dtype()))
    return ctx.invalid("A, B and C must have the same dtype");
  const bool ta = ctx.attr_int("transA", 0) != 0, tb = ctx.attr_int("transB", 0) != 0;
  const float alpha = ctx.attr_float("alpha", 1.0f), beta = ctx.attr_float("beta", 1.0f);
  const std::string act = ctx.attr_string("activation", "");
  const float aa = ctx.attr_float("activation_alpha", act == "HardSigmoid" ? 0.2f : 0.01f);
  const float ab = ctx.attr_float("activation_beta", 0.5f);
  if (!act.empty() && act != "Relu" && act != "Tanh" && act != "Sigmoid" && act != "LeakyRelu" &&
      act != "HardSigmoid")
    return ctx.unsupported_here("activation '" + act + "'");
  const int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1);
  const int64_t N = tb ? b.dim(0) : b.dim(1);
  if ((tb ? b.dim(1) : b.dim(0)) != K)
    return ctx.invalid("inner dimensions differ: " + shape_to_string(a.shape()) + " x " +
                       shape_to_string(b.shape()));
  std::vector<int64_t> c_strides;
  if (c) {
    const Shape& cs = c->shape();
    bool fits = cs.size() <= 2;
    for (size_t k = 0; fits && k < cs.size(); ++k) {
      const int64_t want = k + 1 == cs.size() ? N : M;
      fits = cs[k] == 1 || cs[k] == want;
    }
    if (!fits)
      return ctx.invalid("C of shape " + shape_to_string(cs) + " does not broadcast to [" +
                         std::to_string(M) + ", " + std::to_string(N) + "]");
    c_strides = broadcast_strides(cs, {M, N});
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, allocate_output_uninit(ctx, 0, a.dtype(), {M, N}));
  if (y->numel() == 0) return Status::ok();
  const int64_t a_rs = ta ? 1 : K, a_cs = ta ? M : 1, b_rs = tb ? 1 : N, b_cs = tb ? K : 1;
  bool ok = false;
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsFloat<T>) {
      using Acc = compute_t<T>;
      ok = true;
      const T* ad = a.data<T>();
      const T* bd = b.data<T>();
      const T* cd = c ? c->data<T>() : nullptr;
      T* yd = y->data<T>();
      ctx.parallel_for(M, gemm_row_grain(N, K), [&](int64_t lo, int64_t hi) {
        std::vector<Acc> acc(static_cast<size_t>(N));
        for (int64_t m = lo; m < hi; ++m) {
          gemm_ref_rows<Acc>(0, 1, N, K, ad + m * a_rs, a_rs, a_cs, bd, b_rs, b_cs, acc.data(), N);
          for (int64_t n = 0; n < N; ++n) {
            Acc v = Acc(alpha) * acc[n];
            if (cd) v += Acc(beta) * to_compute(cd[m * c_strides[0] + n * c_strides[1]]);
            if (act == "Relu")
              v = std::max(v, Acc(0));
            else if (act == "Tanh")
              v = std::tanh(v);
            else if (act == "Sigmoid")
              v = Acc(1) / (Acc(1) + std::exp(-v));
            else if (act == "LeakyRelu")
              v = v < Acc(0) ? Acc(aa) * v : v;
            else if (act == "HardSigmoid")
              v = std::max(Acc(0), std::min(Acc(1), Acc(aa) * v + Acc(ab)));
            yd[m * N + n] = from_compute<T>(v);
          }
        }
      });
    }
  });
  if (!ok) return ctx.invalid(std::string("unsupported dtype ") + dtype_name(a.dtype()));
  return Status::ok();
}

// MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zero_point?, b_zero_point?, bias?).
Status contrib_matmul_integer_to_float_kernel(OpContext& ctx) {
  for (size_t i = 0; i < 4; ++i)
    if (!ctx.has_input(i)) return ctx.invalid("needs inputs A, B, a_scale and b_scale");
  QuantMatMulArgs q;
  q.a = &ctx.input(0);
  q.b = &ctx.input(1);
  if (!is_8bit(q.a->dtype()) || !is_8bit(q.b->dtype()))
    return ctx.invalid("A and B must be uint8 or int8");
  const Tensor& a_scale = ctx.input(2);
  const Tensor& b_scale = ctx.input(3);
  const DType out_type = a_scale.dtype();
  if (out_type != DType::kFloat32 && out_type != DType::kFloat16)
    return ctx.invalid("a_scale must be float or float16");
  if (b_scale.dtype() != out_type) return ctx.invalid("a_scale and b_scale differ in dtype");
  std::vector<double> tmp;
  KILN_RETURN_IF_ERROR(read_per_column(ctx, a_scale, 1, "a_scale", false, &tmp));
  q.a_scale = static_cast<float>(tmp[0]);
  if (ctx.has_input(4)) {
    if (ctx.input(4).dtype() != q.a->dtype()) return ctx.invalid("a_zero_point must match A");
    KILN_RETURN_IF_ERROR(read_per_column(ctx, ctx.input(4), 1, "a_zero_point", false, &tmp));
    q.a_zp = static_cast<int32_t>(tmp[0]);
  }
  const Tensor* bias = ctx.has_input(6) ? &ctx.input(6) : nullptr;
  if (bias && bias->dtype() != out_type) return ctx.invalid("bias must have a_scale's dtype");
  return run_quant_matmul(ctx, q, b_scale, ctx.has_input(5) ? &ctx.input(5) : nullptr, bias,
                          out_type);
}

// DynamicQuantizeMatMul(A float, B, b_scale, b_zero_point?, bias?): A is quantized to uint8
// with ONNX Runtime's dynamic parameters, then as MatMulIntegerToFloat.
Status contrib_dynamic_quantize_matmul_kernel(OpContext& ctx) {
  for (size_t i = 0; i < 3; ++i)
    if (!ctx.has_input(i)) return ctx.invalid("needs inputs A, B and b_scale");
  const Tensor& a = ctx.input(0);
  if (a.dtype() != DType::kFloat32) return ctx.invalid("A must be float");
  QuantMatMulArgs q;
  q.b = &ctx.input(1);
  if (!is_8bit(q.b->dtype())) return ctx.invalid("B must be uint8 or int8");
  const Tensor& b_scale = ctx.input(2);
  if (b_scale.dtype() != DType::kFloat32) return ctx.invalid("b_scale must be float");
  const Tensor* bias = ctx.has_input(4) ? &ctx.input(4) : nullptr;
  if (bias && bias->dtype() != DType::kFloat32) return ctx.invalid("bias must be float");
  // The quantized A lives only inside this call: a per-thread buffer kept between calls (no
  // zero-filled allocation per call). The kernel does not run reentrantly on one thread.
  thread_local std::shared_ptr<uint8_t> aq_buf;
  thread_local size_t aq_cap = 0;
  const size_t aq_bytes = static_cast<size_t>(std::max<int64_t>(a.numel(), 1));
  if (aq_cap < aq_bytes) {
    aq_buf.reset(new (std::nothrow) uint8_t[aq_bytes], std::default_delete<uint8_t[]>());
    aq_cap = aq_buf ? aq_bytes : 0;
    if (!aq_buf) return ctx.runtime("out of memory for the quantized A");
  }
  Tensor aq = Tensor::wrap(DType::kUInt8, a.shape(), aq_buf, 0);
  float scale = 1;
  uint8_t zp = 0;
  if (fast_qgemm_enabled()) {
    // Vectorised, with the reference's results (NaN quantizes to the zero point).
    float mn = 0, mx = 0;
    dynamic_minmax(ctx, a.data<float>(), a.numel(), &mn, &mx);
    dynamic_quant_params_from_range(mn, mx, &scale, &zp);
    dynamic_quantize_u8(ctx, a.data<float>(), a.numel(), scale, zp, zp, aq.data<uint8_t>());
  } else {
    dynamic_quant_params(a.data<float>(), a.numel(), &scale, &zp);
    for (int64_t i = 0; i < a.numel(); ++i)
      aq.data<uint8_t>()[i] = quantize_u8(a.data<float>()[i], scale, zp);
  }
  q.a = &aq;
  q.a_scale = scale;
  q.a_zp = zp;
  return run_quant_matmul(ctx, q, b_scale, ctx.has_input(3) ? &ctx.input(3) : nullptr, bias,
                          DType::kFloat32);
}

}  // namespace kiln::cpu
