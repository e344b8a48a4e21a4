// CPU kernels: linear algebra (MatMul, Gemm; Einsum lives in linalg_einsum.cpp). float32 runs
// on the fast packed SGEMM (runtime/cpu/fast/sgemm.h), with constant weights packed once and
// kept in a small cache; the other dtypes run the reference loops of gemm_ref.h.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>

#include "runtime/cpu/fast/sgemm.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/gemm_ref.h"
#include "runtime/cpu/ops/packed_weights.h"
#include "runtime/cpu/output_alloc.h"

namespace kiln::cpu {

Status einsum_kernel(OpContext& ctx);  // linalg_einsum.cpp

namespace {

// Accumulation type: float for float and the 16-bit floats, double for double, and wrapping
// 64-bit unsigned arithmetic for integers (the low bits are those of a wrapping T computation).
template <typename T>
using acc_t = std::conditional_t<std::is_integral_v<T>, uint64_t,
                                 std::conditional_t<std::is_same_v<T, double>, double, float>>;

template <typename T>
T from_acc(acc_t<T> v) {
  if constexpr (std::is_integral_v<T>)
    return static_cast<T>(v);  // modular (C++20)
  else
    return from_compute<T>(static_cast<compute_t<T>>(v));
}

template <typename T>
constexpr bool is_matmul_type() {
  return std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, Half> ||
         std::is_same_v<T, BFloat16> || std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
         std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t> || std::is_same_v<T, int8_t> ||
         std::is_same_v<T, uint8_t> || std::is_same_v<T, int16_t> || std::is_same_v<T, uint16_t>;
}

Status require_inputs(const OpContext& ctx, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!ctx.has_input(i)) return ctx.invalid("missing required input " + std::to_string(i));
  return Status::ok();
}

// ---- float32 on the fast SGEMM ------------------------------------------------------------------

// KILN_CPU_GEMM=ref keeps float32 MatMul / Gemm on the reference loops (for comparisons).
bool fast_f32_gemm() {
  static const bool on = [] {
    const char* v = std::getenv("KILN_CPU_GEMM");
    return !(v && std::string(v) == "ref");
  }();
  return on;
}

void matmul_f32(const OpContext& ctx, const MatMulPlan& p, const Tensor& a, const Tensor& b,
                Tensor& y) {
  const int64_t M = p.M, N = p.N, K = p.K;
  const std::vector<int64_t> a_off = batch_offsets(p.batch, p.a_batch, M * K);
  const std::vector<int64_t> b_off = batch_offsets(p.batch, p.b_batch, K * N);
  const float* ad = a.data<float>();
  const float* bd = b.data<float>();
  float* yd = y.data<float>();
  const int64_t batches = p.batch_count;
  bool b_shared = true, a_contiguous = true;
  for (int64_t i = 0; i < batches; ++i) {
    b_shared = b_shared && b_off[i] == 0;
    a_contiguous = a_contiguous && a_off[i] == i * M * K;
  }
  ThreadPool* pool = &ctx.pool();
  if (b_shared) {
    std::shared_ptr<const fast::PackedB> packed = constant_packed_b(ctx, 1, K, N, N, 1);
    auto run = [&](int64_t rows, const float* a0, float* y0) {
      if (packed)
        fast::sgemm_packed(rows, 1.0f, a0, K, 1, *packed, 0.0f, y0, N, pool);
      else
        fast::sgemm(rows, N, K, 1.0f, a0, K, 1, bd, N, 1, 0.0f, y0, N, pool);
    };
    if (a_contiguous) {
      // [batch..., M, K] x [K, N]: one GEMM with batch * M rows.
      run(batches * M, ad, yd);
    } else {
      for (int64_t i = 0; i < batches; ++i) run(M, ad + a_off[i], yd + i * M * N);
    }
    return;
  }
  // Batched operands (attention scores and the like): whole matrices per thread when there are
  // enough of them, otherwise one parallel GEMM after another.
  if (batches >= 2 * pool->num_threads()) {
    ctx.parallel_for(batches, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        fast::sgemm(M, N, K, 1.0f, ad + a_off[i], K, 1, bd + b_off[i], N, 1, 0.0f, yd + i * M * N,
                    N, nullptr);
    });
  } else {
    for (int64_t i = 0; i < batches; ++i)
      fast::sgemm(M, N, K, 1.0f, ad + a_off[i], K, 1, bd + b_off[i], N, 1, 0.0f, yd + i * M * N, N,
                  pool);
  }
}

void gemm_f32(const OpContext& ctx, int64_t M, int64_t N, int64_t K, const Tensor& a, int64_t a_rs,
              int64_t a_cs, const Tensor& b, int64_t b_rs, int64_t b_cs, const Tensor* c,
              float alpha, float beta, Tensor& y) {
  float* yd = y.data<float>();
  float eff_beta = 0.0f;
  if (c && beta != 0.0f) {
    // Y starts as C broadcast to [M, N]; the GEMM then computes alpha * A * B + beta * Y.
    const std::vector<int64_t> cs = broadcast_strides(c->shape(), {M, N});
    const float* cd = c->data<float>();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) yd[m * N + n] = cd[m * cs[0] + n * cs[1]];
    eff_beta = beta;
  }
  std::shared_ptr<const fast::PackedB> packed = constant_packed_b(ctx, 1, K, N, b_rs, b_cs);
  if (packed)
    fast::sgemm_packed(M, alpha, a.data<float>(), a_rs, a_cs, *packed, eff_beta, yd, N,
                       &ctx.pool());
  else
    fast::sgemm(M, N, K, alpha, a.data<float>(), a_rs, a_cs, b.data<float>(), b_rs, b_cs, eff_beta,
                yd, N, &ctx.pool());
}

// ---- MatMul ------------------------------------------------------------------------------------

template <typename T>
void matmul_typed(const OpContext& ctx, const MatMulPlan& p, const Tensor& a, const Tensor& b,
                  Tensor& y) {
  using Acc = acc_t<T>;
  const int64_t M = p.M, N = p.N, K = p.K;
  const std::vector<int64_t> a_off = batch_offsets(p.batch, p.a_batch, M * K);
  const std::vector<int64_t> b_off = batch_offsets(p.batch, p.b_batch, K * N);
  const T* ad = a.data<T>();
  const T* bd = b.data<T>();
  T* yd = y.data<T>();
  ctx.parallel_for(p.batch_count * M, gemm_row_grain(N, K), [&](int64_t begin, int64_t end) {
    std::vector<Acc> row(static_cast<size_t>(N));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t bi = r / M, m = r % M;
      gemm_ref_rows<Acc>(0, 1, N, K, ad + a_off[bi] + m * K, K, 1, bd + b_off[bi], N, 1, row.data(),
                         N);
      T* out = yd + r * N;
      for (int64_t n = 0; n < N; ++n) out[n] = from_acc<T>(row[n]);
    }
  });
}

Status matmul_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_inputs(ctx, 2));
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype())
    return ctx.invalid(std::string("input dtypes differ: ") + dtype_name(a.dtype()) + " and " +
                       dtype_name(b.dtype()));
  auto plan = plan_matmul(a.shape(), b.shape());
  if (!plan) return ctx.invalid(plan.status().message());
  Status st;
  bool typed = false;
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_matmul_type<T>()) {
      typed = true;
      // The fast float32 GEMM writes every element (beta 0 ignores Y's contents); K == 0 and
      // the typed loops keep the zero-filled output.
      const bool writes_all = std::is_same_v<T, float> && fast_f32_gemm() && plan->K > 0;
      auto y = writes_all ? allocate_output_uninit(ctx, 0, a.dtype(), plan->out_shape)
                          : ctx.allocate_output(0, a.dtype(), plan->out_shape);
      if (!y) {
        st = y.status();
        return;
      }
      if ((*y)->numel() == 0 || plan->K == 0) return;
      if constexpr (std::is_same_v<T, float>) {
        if (fast_f32_gemm()) return matmul_f32(ctx, *plan, a, b, **y);
      }
      matmul_typed<T>(ctx, *plan, a, b, **y);
    }
  });
  if (!typed)
    return ctx.unsupported_here(std::string("MatMul on ") + dtype_name(a.dtype()) +
                                " is not supported");
  return st;
}

// ---- Gemm --------------------------------------------------------------------------------------

template <typename T>
T int_from_double_saturating(double v) {
  if (std::isnan(v)) return T(0);
  constexpr double lo = static_cast<double>(std::numeric_limits<T>::min());
  constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
  if (v <= lo) return std::numeric_limits<T>::min();
  if (v >= hi) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

template <typename T>
void gemm_typed(const OpContext& ctx, int64_t M, int64_t N, int64_t K, const Tensor& a,
                int64_t a_rs, int64_t a_cs, const Tensor& b, int64_t b_rs, int64_t b_cs,
                const Tensor* c, float alpha, float beta, Tensor& y) {
  using Acc = acc_t<T>;
  int64_t c_rs = 0, c_cs = 0;
  if (c) {
    std::vector<int64_t> cs = broadcast_strides(c->shape(), {M, N});
    c_rs = cs[0];
    c_cs = cs[1];
  }
  const T* ad = a.data<T>();
  const T* bd = b.data<T>();
  const T* cd = c ? c->data<T>() : nullptr;
  T* yd = y.data<T>();
  // Integer Gemm with integral alpha / beta stays in (wrapping) integer arithmetic; otherwise
  // the scaling is done in double and saturated into T.
  const bool int_scales = std::is_integral_v<T> && alpha == std::nearbyint(alpha) &&
                          beta == std::nearbyint(beta) && std::fabs(alpha) < 9.2e18f &&
                          std::fabs(beta) < 9.2e18f;
  ctx.parallel_for(M, gemm_row_grain(N, K), [&](int64_t begin, int64_t end) {
    std::vector<Acc> row(static_cast<size_t>(N));
    for (int64_t m = begin; m < end; ++m) {
      gemm_ref_rows<Acc>(0, 1, N, K, ad + m * a_rs, a_rs, a_cs, bd, b_rs, b_cs, row.data(), N);
      T* out = yd + m * N;
      for (int64_t n = 0; n < N; ++n) {
        if constexpr (std::is_integral_v<T>) {
          if (int_scales) {
            uint64_t v = static_cast<uint64_t>(static_cast<int64_t>(alpha)) * row[n];
            if (cd)
              v += static_cast<uint64_t>(static_cast<int64_t>(beta)) *
                   static_cast<uint64_t>(cd[m * c_rs + n * c_cs]);
            out[n] = static_cast<T>(v);
          } else {
            double v = static_cast<double>(alpha) * static_cast<double>(static_cast<T>(row[n]));
            if (cd) v += static_cast<double>(beta) * static_cast<double>(cd[m * c_rs + n * c_cs]);
            out[n] = int_from_double_saturating<T>(v);
          }
        } else {
          Acc v = static_cast<Acc>(alpha) * row[n];
          if (cd) v += static_cast<Acc>(beta) * static_cast<Acc>(cd[m * c_rs + n * c_cs]);
          out[n] = from_acc<T>(v);
        }
      }
    }
  });
}

Status gemm_kernel(OpContext& ctx) {
  KILN_RETURN_IF_ERROR(require_inputs(ctx, 2));
  const bool c_required = ctx.opset() < 11;
  if (c_required && !ctx.has_input(2)) return ctx.invalid("input C is required before opset 11");
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Tensor* c = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  if (a.dtype() != b.dtype() || (c && c->dtype() != a.dtype()))
    return ctx.invalid("inputs A, B and C must have the same dtype");
  if (a.rank() != 2 || b.rank() != 2)
    return ctx.invalid("A and B must be 2-D, got " + shape_to_string(a.shape()) + " and " +
                       shape_to_string(b.shape()));
  const int64_t trans_a = ctx.attr_int("transA", 0);
  const int64_t trans_b = ctx.attr_int("transB", 0);
  if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1))
    return ctx.invalid("transA and transB must be 0 or 1");
  const float alpha = ctx.attr_float("alpha", 1.0f);
  const float beta = ctx.attr_float("beta", 1.0f);
  const int64_t M = trans_a ? a.dim(1) : a.dim(0);
  const int64_t K = trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
  const int64_t N = trans_b ? b.dim(0) : b.dim(1);
  if (K != kb)
    return ctx.invalid("inner dimensions differ: A " + shape_to_string(a.shape()) +
                       (trans_a ? " (transposed)" : "") + ", B " + shape_to_string(b.shape()) +
                       (trans_b ? " (transposed)" : ""));
  if (c) {
    const Shape& cs = c->shape();
    bool ok = cs.size() <= 2;
    const Shape mn{M, N};
    for (size_t i = 0; ok && i < cs.size(); ++i) {
      const int64_t want = mn[2 - cs.size() + i];
      ok = cs[i] == want || cs[i] == 1;
    }
    if (!ok)
      return ctx.invalid("C of shape " + shape_to_string(cs) +
                         " does not broadcast unidirectionally to " + shape_to_string(mn));
  }
  // A(m, k) strides and B(k, n) strides.
  const int64_t a_rs = trans_a ? 1 : K, a_cs = trans_a ? M : 1;
  const int64_t b_rs = trans_b ? 1 : N, b_cs = trans_b ? K : 1;
  Status st;
  bool typed = false;
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_matmul_type<T>()) {
      typed = true;
      // The fast float32 GEMM writes every element (Y = C broadcast, or beta 0 ignoring Y; K == 0
      // scales zeros); the typed loops keep the zero-filled output.
      const bool writes_all = std::is_same_v<T, float> && fast_f32_gemm();
      auto y = writes_all ? allocate_output_uninit(ctx, 0, a.dtype(), {M, N})
                          : ctx.allocate_output(0, a.dtype(), {M, N});
      if (!y) {
        st = y.status();
        return;
      }
      if ((*y)->numel() == 0) return;
      if constexpr (std::is_same_v<T, float>) {
        if (fast_f32_gemm())
          return gemm_f32(ctx, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c, alpha, beta, **y);
      }
      gemm_typed<T>(ctx, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, c, alpha, beta, **y);
    }
  });
  if (!typed)
    return ctx.unsupported_here(std::string("Gemm on ") + dtype_name(a.dtype()) +
                                " is not supported");
  return st;
}

}  // namespace

void register_linalg_kernels(KernelRegistry& r) {
  r.add("", "MatMul", matmul_kernel);
  r.add("", "Gemm", gemm_kernel, 7);
  r.add("", "Einsum", einsum_kernel, 12);
}

}  // namespace kiln::cpu
