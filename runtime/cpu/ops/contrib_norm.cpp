// CPU reference kernels for the ONNX Runtime normalization contrib ops: SkipLayerNormalization,
// SkipSimplifiedLayerNormalization (com.microsoft), SimplifiedLayerNormalization (RMSNorm,
// registered by ONNX Runtime in the default domain) and EmbedLayerNormalization. Statistics are
// computed in double in two passes over one row; float16 / bfloat16 values are read as float.
// float32 SkipLayerNormalization / SkipSimplifiedLayerNormalization take the vectorised rows of
// runtime/cpu/fast/vec_math.h (skip + bias sum rounded once as here, one pass for sum and sum of
// squares in double, one for the output) unless KILN_CPU_ELEMENTWISE=ref.
#include <cmath>
#include <string>
#include <type_traits>

#include "runtime/cpu/fast/vec_math.h"
#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/output_alloc.h"

namespace kiln::cpu {

namespace {

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<compute_t<T>>;

template <typename T>
double ld(const T* p, int64_t i) {
  return static_cast<double>(to_compute(p[i]));
}

template <typename T>
T st(double v) {
  return from_compute<T>(static_cast<compute_t<T>>(v));
}

// Normalizes one row x[0..n) into y: (x - mean) / sqrt(var + eps) * gamma + beta, or with
// `simplified` x / sqrt(mean(x^2) + eps) * gamma. Returns {mean, 1 / std}.
template <typename T>
std::pair<double, double> norm_row(const double* x, int64_t n, double eps, bool simplified,
                                   const T* gamma, const T* beta, T* y) {
  double mean = 0;
  if (!simplified) {
    for (int64_t i = 0; i < n; ++i) mean += x[i];
    mean /= static_cast<double>(n);
  }
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const double inv = 1.0 / std::sqrt(sq / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) {
    double v = (x[i] - mean) * inv * ld(gamma, i);
    if (beta) v += ld(beta, i);
    y[i] = st<T>(v);
  }
  return {mean, inv};
}

// A 1-D parameter of size h and dtype t (gamma, beta, bias); an error otherwise.
Status check_vector(const OpContext& ctx, const Tensor& v, const std::string& what, int64_t h,
                    DType t) {
  if (v.rank() != 1 || v.dim(0) != h)
    return ctx.invalid("input '" + what + "' of shape " + shape_to_string(v.shape()) +
                       " must be 1-D of size " + std::to_string(h));
  if (v.dtype() != t)
    return ctx.invalid("input '" + what + "' has dtype " + dtype_name(v.dtype()) + ", expected " +
                       dtype_name(t));
  return Status::ok();
}

Status skip_layer_norm_impl(OpContext& ctx, bool simplified) {
  // Inputs: input, skip, gamma, [beta], [bias] (SkipSimplified has no beta).
  const size_t i_bias = simplified ? 3 : 4;
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2))
    return ctx.invalid("needs inputs 'input', 'skip' and 'gamma'");
  const Tensor& x = ctx.input(0);
  const Tensor& skip = ctx.input(1);
  const Tensor& gamma = ctx.input(2);
  const Tensor* beta = !simplified && ctx.has_input(3) ? &ctx.input(3) : nullptr;
  const Tensor* bias = ctx.has_input(i_bias) ? &ctx.input(i_bias) : nullptr;
  if (x.rank() != 2 && x.rank() != 3)
    return ctx.invalid("input must be 2-D or 3-D, got " + shape_to_string(x.shape()));
  const int64_t h = x.dim(-1);
  if (h == 0) return ctx.invalid("hidden size is 0");
  // skip: the input's shape, or [1, S, H] / [S, H] broadcast over the batch of a 3-D input.
  const bool same = skip.shape() == x.shape();
  const bool bcast =
      x.rank() == 3 &&
      ((skip.rank() == 3 && skip.dim(0) == 1 && skip.dim(1) == x.dim(1) && skip.dim(2) == h) ||
       (skip.rank() == 2 && skip.dim(0) == x.dim(1) && skip.dim(1) == h));
  if (!same && !bcast)
    return ctx.invalid("input 'skip' of shape " + shape_to_string(skip.shape()) +
                       " must be the input's shape " + shape_to_string(x.shape()) +
                       " or [1, S, H] / [S, H]");
  if (skip.dtype() != x.dtype()) return ctx.invalid("input 'skip' must have the input's dtype");
  KILN_RETURN_IF_ERROR(check_vector(ctx, gamma, "gamma", h, x.dtype()));
  if (beta) KILN_RETURN_IF_ERROR(check_vector(ctx, *beta, "beta", h, x.dtype()));
  if (bias) KILN_RETURN_IF_ERROR(check_vector(ctx, *bias, "bias", h, x.dtype()));
  const double eps = ctx.attr_float("epsilon", 1e-12f);
  if (!(eps >= 0)) return ctx.invalid("epsilon must be >= 0");

  const int64_t rows = x.numel() / h;
  const int64_t skip_rows = skip.numel() / h;
  Shape stat_shape = x.shape();
  stat_shape.back() = 1;
  // The vectorised float32 path below writes every row of Y.
  const bool fast_path = x.dtype() == DType::kFloat32 && fast::elementwise_fast_enabled();
  KILN_ASSIGN_OR_RETURN(Tensor * y, fast_path ? allocate_output_uninit(ctx, 0, x.dtype(), x.shape())
                                              : ctx.allocate_output(0, x.dtype(), x.shape()));
  Tensor *mean_out = nullptr, *inv_out = nullptr, *sum_out = nullptr;
  if (ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(mean_out, ctx.allocate_output(1, DType::kFloat32, stat_shape));
  }
  if (ctx.wants_output(2)) {
    KILN_ASSIGN_OR_RETURN(inv_out, ctx.allocate_output(2, DType::kFloat32, stat_shape));
  }
  if (ctx.wants_output(3)) {
    KILN_ASSIGN_OR_RETURN(sum_out, ctx.allocate_output(3, x.dtype(), x.shape()));
  }
  if (fast_path) {
    const float* xd = x.data<float>();
    const float* sd = skip.data<float>();
    const float* gd = gamma.data<float>();
    const float* bd = beta ? beta->data<float>() : nullptr;
    const float* biasd = bias ? bias->data<float>() : nullptr;
    float* yd = y->data<float>();
    float* sumd = sum_out ? sum_out->data<float>() : nullptr;
    ctx.parallel_for(rows, std::max<int64_t>(1, 4096 / h), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t base = r * h, sbase = (r % skip_rows) * h;
        // The rounded sum goes to output 3 when wanted, else to Y (overwritten in place below).
        float* v = sumd ? sumd + base : yd + base;
        fast::vec_add3(xd + base, sd + sbase, biasd, v, h);
        double sum = 0, sumsq = 0;
        fast::vec_moments(v, h, &sum, &sumsq);
        const double dn = static_cast<double>(h);
        const double mean = simplified ? 0.0 : sum / dn;
        double var = sumsq / dn - mean * mean;
        if (var < 0) var = 0;
        const double inv = 1.0 / std::sqrt(var + eps);
        fast::vec_norm_apply(v, h, mean, inv, gd, bd, yd + base);
        if (mean_out) mean_out->data<float>()[r] = static_cast<float>(mean);
        if (inv_out) inv_out->data<float>()[r] = static_cast<float>(inv);
      }
    });
    return Status::ok();
  }
  bool ok = false;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsFloat<T>) {
      ok = true;
      const T* xd = x.data<T>();
      const T* sd = skip.data<T>();
      const T* gd = gamma.data<T>();
      const T* bd = beta ? beta->data<T>() : nullptr;
      const T* biasd = bias ? bias->data<T>() : nullptr;
      T* yd = y->data<T>();
      T* sumd = sum_out ? sum_out->data<T>() : nullptr;
      ctx.parallel_for(rows, std::max<int64_t>(1, 4096 / h), [&](int64_t b, int64_t e) {
        std::vector<double> row(static_cast<size_t>(h));
        for (int64_t r = b; r < e; ++r) {
          const int64_t base = r * h, sbase = (r % skip_rows) * h;
          for (int64_t i = 0; i < h; ++i) {
            // The sum is rounded to T as ONNX Runtime stores it (input_skip_bias_sum).
            double v = ld(xd, base + i) + ld(sd, sbase + i);
            if (biasd) v += ld(biasd, i);
            const T vt = st<T>(v);
            if (sumd) sumd[base + i] = vt;
            row[static_cast<size_t>(i)] = static_cast<double>(to_compute(vt));
          }
          auto [mean, inv] = norm_row(row.data(), h, eps, simplified, gd, bd, yd + base);
          if (mean_out) mean_out->data<float>()[r] = static_cast<float>(mean);
          if (inv_out) inv_out->data<float>()[r] = static_cast<float>(inv);
        }
      });
    }
  });
  if (!ok) return ctx.invalid(std::string("unsupported input dtype ") + dtype_name(x.dtype()));
  return Status::ok();
}

}  // namespace

Status contrib_skip_layer_norm_kernel(OpContext& ctx) {
  return skip_layer_norm_impl(ctx, false);
}

Status contrib_skip_simplified_layer_norm_kernel(OpContext& ctx) {
  return skip_layer_norm_impl(ctx, true);
}

// SimplifiedLayerNormalization (ONNX Runtime, default domain): X, scale -> Y, inv_std_var.
// Y = X / sqrt(mean(X^2 over axes [axis, rank)) + epsilon) * scale; Y has scale's dtype.
Status simplified_layer_norm_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("needs inputs X and scale");
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const int64_t rank = x.rank();
  if (rank == 0) return ctx.invalid("input X must have rank >= 1");
  int64_t axis = ctx.attr_int("axis", -1);
  if (axis < -rank || axis >= rank)
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
  if (axis < 0) axis += rank;
  const double eps = ctx.attr_float("epsilon", 1e-5f);
  if (!(eps >= 0)) return ctx.invalid("epsilon must be >= 0");
  const int64_t stash = ctx.attr_int("stash_type", 1);
  if (stash != 1) return ctx.unsupported_here("stash_type " + std::to_string(stash));
  int64_t n = 1;
  Shape stat_shape = x.shape();
  for (int64_t d = axis; d < rank; ++d) {
    n *= x.shape()[d];
    stat_shape[d] = 1;
  }
  if (n == 0 && x.numel() != 0) return ctx.invalid("normalized size is 0");
  if (scale.numel() != n)
    return ctx.invalid("scale of shape " + shape_to_string(scale.shape()) + " must have " +
                       std::to_string(n) + " elements (X's dims from axis " + std::to_string(axis) +
                       ")");
  const int64_t rows = n > 0 ? x.numel() / n : 0;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, scale.dtype(), x.shape()));
  Tensor* inv_out = nullptr;
  if (ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(inv_out, ctx.allocate_output(1, DType::kFloat32, stat_shape));
  }
  bool ok = false;
  visit_dtype(x.dtype(), [&](auto xtag) {
    using TX = decltype(xtag);
    if constexpr (kIsFloat<TX>) {
      visit_dtype(scale.dtype(), [&](auto stag) {
        using TS = decltype(stag);
        if constexpr (kIsFloat<TS>) {
          ok = true;
          const TX* xd = x.data<TX>();
          const TS* sd = scale.data<TS>();
          TS* yd = y->data<TS>();
          ctx.parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)),
                           [&](int64_t b, int64_t e) {
                             std::vector<double> row(static_cast<size_t>(n));
                             for (int64_t r = b; r < e; ++r) {
                               for (int64_t i = 0; i < n; ++i) row[i] = ld(xd, r * n + i);
                               auto st =
                                   norm_row<TS>(row.data(), n, eps, true, sd, nullptr, yd + r * n);
                               if (inv_out)
                                 inv_out->data<float>()[r] = static_cast<float>(st.second);
                             }
                           });
        }
      });
    }
  });
  if (!ok)
    return ctx.invalid(std::string("unsupported dtypes ") + dtype_name(x.dtype()) + " / " +
                       dtype_name(scale.dtype()));
  return Status::ok();
}

// EmbedLayerNormalization: input_ids, segment_ids?, word_embedding, position_embedding,
// segment_embedding?, gamma, beta, mask?, position_ids? -> output, mask_index, embedding_sum?.
Status contrib_embed_layer_norm_kernel(OpContext& ctx) {
  for (size_t i : {0, 2, 3, 5, 6})
    if (!ctx.has_input(i))
      return ctx.invalid("missing input " + std::to_string(i) +
                         " (input_ids, word/position embeddings, gamma and beta are required)");
  const Tensor& ids = ctx.input(0);
  const Tensor* seg_ids = ctx.has_input(1) ? &ctx.input(1) : nullptr;
  const Tensor& wemb = ctx.input(2);
  const Tensor& pemb = ctx.input(3);
  const Tensor* semb = ctx.has_input(4) ? &ctx.input(4) : nullptr;
  const Tensor& gamma = ctx.input(5);
  const Tensor& beta = ctx.input(6);
  const Tensor* mask = ctx.has_input(7) ? &ctx.input(7) : nullptr;
  const Tensor* pos_ids = ctx.has_input(8) ? &ctx.input(8) : nullptr;
  if (ids.rank() != 2 || ids.dtype() != DType::kInt32)
    return ctx.invalid("input_ids must be a 2-D int32 tensor [batch, sequence], got " +
                       std::string(dtype_name(ids.dtype())) + shape_to_string(ids.shape()));
  const int64_t batch = ids.dim(0), seq = ids.dim(1);
  auto check_ids = [&](const Tensor* t, const std::string& what, bool allow_b1) -> Status {
    if (!t) return Status::ok();
    const bool shape_ok =
        t->rank() == 2 && t->dim(1) == seq && (t->dim(0) == batch || (allow_b1 && t->dim(0) == 1));
    if (!shape_ok || t->dtype() != DType::kInt32)
      return ctx.invalid(what + " must be int32 of input_ids' shape " +
                         shape_to_string(ids.shape()) + ", got " + dtype_name(t->dtype()) +
                         shape_to_string(t->shape()));
    return Status::ok();
  };
  KILN_RETURN_IF_ERROR(check_ids(seg_ids, "segment_ids", false));
  KILN_RETURN_IF_ERROR(check_ids(mask, "mask", false));
  KILN_RETURN_IF_ERROR(check_ids(pos_ids, "position_ids", true));
  if ((seg_ids == nullptr) != (semb == nullptr))
    return ctx.invalid("segment_ids and segment_embedding must be given together");
  if (wemb.rank() != 2) return ctx.invalid("word_embedding must be 2-D");
  const int64_t h = wemb.dim(1);
  const DType t = wemb.dtype();
  if (h == 0) return ctx.invalid("hidden size is 0");
  if (pemb.rank() != 2 || pemb.dim(1) != h || pemb.dtype() != t)
    return ctx.invalid("position_embedding must be 2-D [max_position, " + std::to_string(h) +
                       "] of word_embedding's dtype, got " + shape_to_string(pemb.shape()));
  if (semb && (semb->rank() != 2 || semb->dim(1) != h || semb->dtype() != t))
    return ctx.invalid("segment_embedding must be 2-D [segments, " + std::to_string(h) +
                       "] of word_embedding's dtype, got " + shape_to_string(semb->shape()));
  KILN_RETURN_IF_ERROR(check_vector(ctx, gamma, "gamma", h, t));
  KILN_RETURN_IF_ERROR(check_vector(ctx, beta, "beta", h, t));
  const double eps = ctx.attr_float("epsilon", 1e-12f);
  if (!(eps >= 0)) return ctx.invalid("epsilon must be >= 0");

  // Every index is checked before any output is written.
  const int32_t* idd = ids.data<int32_t>();
  const int32_t* sidd = seg_ids ? seg_ids->data<int32_t>() : nullptr;
  const int32_t* pidd = pos_ids ? pos_ids->data<int32_t>() : nullptr;
  const int64_t pos_rows = pos_ids ? pos_ids->dim(0) : 0;
  for (int64_t i = 0; i < batch * seq; ++i) {
    if (idd[i] < 0 || idd[i] >= wemb.dim(0))
      return ctx.runtime("input_ids value " + std::to_string(idd[i]) + " at " + std::to_string(i) +
                         " is out of range [0, " + std::to_string(wemb.dim(0)) + ")");
    if (sidd && (sidd[i] < 0 || sidd[i] >= semb->dim(0)))
      return ctx.runtime("segment_ids value " + std::to_string(sidd[i]) + " at " +
                         std::to_string(i) + " is out of range [0, " +
                         std::to_string(semb->dim(0)) + ")");
    const int64_t s = i % seq;
    const int64_t p = pidd ? pidd[(pos_rows == 1 ? 0 : i / seq) * seq + s] : s;
    if (p < 0 || p >= pemb.dim(0))
      return ctx.runtime("position " + std::to_string(p) + " at " + std::to_string(i) +
                         " is out of range for position_embedding of " +
                         std::to_string(pemb.dim(0)) + " rows");
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, t, {batch, seq, h}));
  if (ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(Tensor * mi, ctx.allocate_output(1, DType::kInt32, {batch}));
    if (mask) {
      const int32_t* md = mask->data<int32_t>();
      for (int64_t b = 0; b < batch; ++b) {
        int32_t count = 0;
        for (int64_t s = 0; s < seq; ++s) count += md[b * seq + s] == 1 ? 1 : 0;
        mi->data<int32_t>()[b] = count;
      }
    }
  }
  Tensor* sum_out = nullptr;
  if (ctx.wants_output(2)) {
    KILN_ASSIGN_OR_RETURN(sum_out, ctx.allocate_output(2, t, {batch, seq, h}));
  }
  bool ok = false;
  visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsFloat<T>) {
      ok = true;
      const T* wd = wemb.data<T>();
      const T* pd = pemb.data<T>();
      const T* sd = semb ? semb->data<T>() : nullptr;
      const T* gd = gamma.data<T>();
      const T* bd = beta.data<T>();
      T* yd = y->data<T>();
      T* sumd = sum_out ? sum_out->data<T>() : nullptr;
      ctx.parallel_for(batch * seq, std::max<int64_t>(1, 4096 / h), [&](int64_t b, int64_t e) {
        std::vector<double> row(static_cast<size_t>(h));
        for (int64_t i = b; i < e; ++i) {
          const int64_t s = i % seq;
          const int64_t p = pidd ? pidd[(pos_rows == 1 ? 0 : i / seq) * seq + s] : s;
          for (int64_t k = 0; k < h; ++k) {
            double v = ld(wd, idd[i] * h + k) + ld(pd, p * h + k);
            if (sd) v += ld(sd, sidd[i] * h + k);
            const T vt = st<T>(v);
            if (sumd) sumd[i * h + k] = vt;
            row[static_cast<size_t>(k)] = static_cast<double>(to_compute(vt));
          }
          norm_row(row.data(), h, eps, false, gd, bd, yd + i * h);
        }
      });
    }
  });
  if (!ok) return ctx.invalid(std::string("unsupported embedding dtype ") + dtype_name(t));
  return Status::ok();
}

}  // namespace kiln::cpu
