// CPU reference kernels: the Reduce* family and MeanVarianceNormalization (reductions over a set
// of axes), plus the registration of every reduction-like kernel (the others live in
// reduction_*.cpp). Float reductions accumulate in double in a fixed order; integer sums and
// products wrap in 64 bits and are then narrowed, like numpy.
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"

namespace kiln::cpu {

// Defined in reduction_arg.cpp, reduction_softmax.cpp and reduction_norm.cpp.
Status argmax_kernel(OpContext& ctx);
Status argmin_kernel(OpContext& ctx);
Status topk_kernel(OpContext& ctx);
Status cumsum_kernel(OpContext& ctx);
Status softmax_kernel(OpContext& ctx);
Status log_softmax_kernel(OpContext& ctx);
Status hardmax_kernel(OpContext& ctx);
Status layer_norm_kernel(OpContext& ctx);
Status instance_norm_kernel(OpContext& ctx);
Status lp_norm_kernel(OpContext& ctx);

namespace {

// The input's dims split into kept and reduced ones (size-1 dims dropped, adjacent dims merged),
// with their element strides in the input.
struct ReducePlan {
  Shape out_shape;  // keepdims applied
  int64_t out_numel = 0;
  int64_t red_count = 1;  // elements per reduction (1 when no dim is reduced)
  std::vector<int64_t> kept_dims, kept_strides;
  std::vector<int64_t> red_dims, red_strides;

  // Offset in the input of the first element reduced into output o.
  int64_t base_offset(int64_t o) const {
    int64_t base = 0;
    for (size_t k = kept_dims.size(); k-- > 0;) {
      base += (o % kept_dims[k]) * kept_strides[k];
      o /= kept_dims[k];
    }
    return base;
  }

  // Calls f(offset) for every input element reduced into the output whose base is `base`, in
  // row-major order. `idx` is scratch space.
  template <typename F>
  void for_each(int64_t base, std::vector<int64_t>& idx, F&& f) const {
    if (red_count == 0) return;
    const size_t nr = red_dims.size();
    if (nr == 0) {
      f(base);
      return;
    }
    const int64_t n = red_dims[nr - 1], s = red_strides[nr - 1];
    if (nr == 1) {
      for (int64_t i = 0; i < n; ++i) f(base + i * s);
      return;
    }
    idx.assign(nr - 1, 0);
    int64_t off = base;
    while (true) {
      for (int64_t i = 0; i < n; ++i) f(off + i * s);
      size_t d = nr - 1;
      while (d-- > 0) {
        off += red_strides[d];
        if (++idx[d] < red_dims[d]) break;
        off -= red_strides[d] * red_dims[d];
        idx[d] = 0;
      }
      if (d == static_cast<size_t>(-1)) return;
    }
  }
};

void push_merged(std::vector<int64_t>& dims, std::vector<int64_t>& strides, int64_t dim,
                 int64_t stride) {
  if (!dims.empty() && strides.back() == dim * stride) {
    dims.back() *= dim;
    strides.back() = stride;
  } else {
    dims.push_back(dim);
    strides.push_back(stride);
  }
}

ReducePlan make_plan(const Shape& shape, const std::vector<bool>& reduce, bool keepdims) {
  ReducePlan p;
  std::vector<int64_t> st = strides_of(shape);
  p.out_numel = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (reduce[d]) {
      p.red_count *= shape[d];
      if (keepdims) p.out_shape.push_back(1);
      if (shape[d] != 1) push_merged(p.red_dims, p.red_strides, shape[d], st[d]);
    } else {
      p.out_numel *= shape[d];
      p.out_shape.push_back(shape[d]);
      if (shape[d] != 1) push_merged(p.kept_dims, p.kept_strides, shape[d], st[d]);
    }
  }
  return p;
}

// Marks the dims named in `axes`; an error for an axis out of range or repeated.
Expected<std::vector<bool>> reduce_dims(const OpContext& ctx, int64_t rank,
                                        const std::vector<int64_t>& axes, bool allow_negative) {
  std::vector<bool> reduce(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    if (a < (allow_negative ? -rank : 0) || a >= rank)
      return ctx.invalid("axis " + std::to_string(a) + " is out of range for rank " +
                         std::to_string(rank));
    if (a < 0) a += rank;
    if (reduce[a]) return ctx.invalid("axis " + std::to_string(a) + " is repeated in axes");
    reduce[a] = true;
  }
  return reduce;
}

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<compute_t<T>>;

template <typename C>
bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>)
    return std::isnan(v);
  else
    return false;
}

// double -> integer T without undefined behaviour: saturates, NaN gives 0.
template <typename T>
T saturate_cast(double v) {
  if (std::isnan(v)) return T(0);
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest()))
    return std::numeric_limits<T>::lowest();
  return static_cast<T>(v);
}

template <ReduceKind K, typename T>
T reduce_one(const ReducePlan& p, const T* x, int64_t base, std::vector<int64_t>& idx) {
  constexpr bool kMaxMin = K == ReduceKind::kMax || K == ReduceKind::kMin;
  if constexpr (std::is_same_v<T, bool>) {
    bool acc = K == ReduceKind::kMin;  // max: any, min: all
    p.for_each(base, idx,
               [&](int64_t i) { acc = K == ReduceKind::kMax ? (acc || x[i]) : (acc && x[i]); });
    return acc;
  } else if constexpr (kMaxMin) {
    using C = compute_t<T>;
    C acc =
        K == ReduceKind::kMax
            ? (kIsFloat<T> ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::lowest())
            : (kIsFloat<T> ? std::numeric_limits<C>::infinity() : std::numeric_limits<C>::max());
    bool nan = false;
    p.for_each(base, idx, [&](int64_t i) {
      C v = to_compute(x[i]);
      if (is_nan(v))
        nan = true;
      else if (K == ReduceKind::kMax ? v > acc : v < acc)
        acc = v;
    });
    if constexpr (kIsFloat<T>) {
      if (nan) acc = std::numeric_limits<C>::quiet_NaN();
    }
    return from_compute<T>(acc);
  } else if constexpr (kIsFloat<T> || K == ReduceKind::kL2 || K == ReduceKind::kLogSum ||
                       K == ReduceKind::kLogSumExp) {
    double r;
    if constexpr (K == ReduceKind::kLogSumExp) {
      double m = -std::numeric_limits<double>::infinity();
      p.for_each(base, idx, [&](int64_t i) {
        double v = static_cast<double>(to_compute(x[i]));
        if (v > m) m = v;
      });
      if (std::isinf(m)) {
        r = m;  // empty or all -inf: -inf; any +inf: +inf
        p.for_each(base, idx, [&](int64_t i) {
          if (std::isnan(static_cast<double>(to_compute(x[i])))) r = std::nan("");
        });
      } else {
        double s = 0;
        p.for_each(base, idx,
                   [&](int64_t i) { s += std::exp(static_cast<double>(to_compute(x[i])) - m); });
        r = m + std::log(s);
      }
    } else {
      double acc = K == ReduceKind::kProd ? 1.0 : 0.0;
      p.for_each(base, idx, [&](int64_t i) {
        double v = static_cast<double>(to_compute(x[i]));
        if constexpr (K == ReduceKind::kSum || K == ReduceKind::kMean || K == ReduceKind::kLogSum)
          acc += v;
        else if constexpr (K == ReduceKind::kProd)
          acc *= v;
        else if constexpr (K == ReduceKind::kL1)
          acc += std::fabs(v);
        else
          acc += v * v;  // L2, SumSquare
      });
      if constexpr (K == ReduceKind::kMean)
        r = acc / static_cast<double>(p.red_count);
      else if constexpr (K == ReduceKind::kL2)
        r = std::sqrt(acc);
      else if constexpr (K == ReduceKind::kLogSum)
        r = std::log(acc);
      else
        r = acc;
    }
    if constexpr (kIsFloat<T>)
      return from_compute<T>(static_cast<compute_t<T>>(r));
    else
      return saturate_cast<T>(r);
  } else {
    // Integers: wrap in 64 bits (unsigned arithmetic has no overflow UB), then narrow.
    uint64_t acc = K == ReduceKind::kProd ? 1 : 0;
    p.for_each(base, idx, [&](int64_t i) {
      uint64_t v = static_cast<uint64_t>(x[i]);  // sign-extends signed types
      if constexpr (K == ReduceKind::kSum || K == ReduceKind::kMean)
        acc += v;
      else if constexpr (K == ReduceKind::kProd)
        acc *= v;
      else if constexpr (K == ReduceKind::kL1)
        acc += (std::is_signed_v<T> && x[i] < 0) ? uint64_t{0} - v : v;
      else
        acc += v * v;  // SumSquare
    });
    if constexpr (K == ReduceKind::kMean) {
      if (p.red_count == 0) return T(0);
      if constexpr (std::is_signed_v<T>)
        return static_cast<T>(static_cast<int64_t>(acc) / p.red_count);
      else
        return static_cast<T>(acc / static_cast<uint64_t>(p.red_count));
    }
    return static_cast<T>(acc);
  }
}

template <ReduceKind K>
Status run_reduce(OpContext& ctx, const ReducePlan& p, const Tensor& x, Tensor& y) {
  bool ok = visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool> && K != ReduceKind::kMax && K != ReduceKind::kMin) {
      return;
    } else {
      const T* xd = x.data<T>();
      T* yd = y.data<T>();
      int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(p.red_count, 1));
      ctx.parallel_for(p.out_numel, grain, [&](int64_t b, int64_t e) {
        std::vector<int64_t> idx;
        for (int64_t o = b; o < e; ++o) yd[o] = reduce_one<K, T>(p, xd, p.base_offset(o), idx);
      });
    }
  });
  if (!ok || (x.dtype() == DType::kBool && K != ReduceKind::kMax && K != ReduceKind::kMin))
    return ctx.invalid(std::string("unsupported input dtype ") + dtype_name(x.dtype()));
  return Status::ok();
}

// Shared driver of the Reduce* ops: axes (attribute, or input 1 from `axes_input_since`),
// keepdims and noop_with_empty_axes.
template <ReduceKind K>
Status reduce_kernel_impl(OpContext& ctx, int axes_input_since) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 'data'");
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  const bool axes_is_input = ctx.opset() >= axes_input_since;
  std::vector<int64_t> axes;
  bool noop = false;
  if (axes_is_input) {
    if (ctx.has_attr("axes"))
      return ctx.invalid("'axes' is an input, not an attribute, from opset " +
                         std::to_string(axes_input_since));
    if (ctx.has_input(1)) {
      const Tensor& a = ctx.input(1);
      if (a.dtype() != DType::kInt64)
        return ctx.invalid(std::string("input 'axes' must be int64, got ") + dtype_name(a.dtype()));
      if (a.rank() > 1)
        return ctx.invalid("input 'axes' must be 1-D, got shape " + shape_to_string(a.shape()));
      axes = a.to_int64_vector();
    }
    noop = ctx.attr_int("noop_with_empty_axes", 0) != 0;
  } else {
    if (ctx.num_inputs() > 1 && ctx.has_input(1))
      return ctx.invalid("takes 'axes' as an attribute before opset " +
                         std::to_string(axes_input_since));
    axes = ctx.attr_ints("axes");
  }
  const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  KILN_ASSIGN_OR_RETURN(std::vector<bool> reduce, reduce_dims(ctx, rank, axes, ctx.opset() >= 11));
  if (axes.empty() && !noop) reduce.assign(static_cast<size_t>(rank), true);
  ReducePlan p = make_plan(x.shape(), reduce, keepdims);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), p.out_shape));
  return run_reduce<K>(ctx, p, x, *y);
}

template <ReduceKind K, int kAxesInputSince>
Status reduce_kernel(OpContext& ctx) {
  return reduce_kernel_impl<K>(ctx, kAxesInputSince);
}

// MeanVarianceNormalization: (X - mean) / (sqrt(variance) + 1e-9) over `axes` (default
// [0, 2, 3]), as the op's function body computes it (variance = E[X^2] - E[X]^2, here computed
// in two passes in double).
template <typename T>
void mvn_typed(OpContext& ctx, const ReducePlan& p, const Tensor& x, Tensor& y) {
  const T* xd = x.data<T>();
  T* yd = y.data<T>();
  int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(p.red_count, 1));
  ctx.parallel_for(p.out_numel, grain, [&](int64_t b, int64_t e) {
    std::vector<int64_t> idx;
    for (int64_t o = b; o < e; ++o) {
      int64_t base = p.base_offset(o);
      double sum = 0;
      p.for_each(base, idx, [&](int64_t i) { sum += static_cast<double>(to_compute(xd[i])); });
      double mean = sum / static_cast<double>(p.red_count);
      double sq = 0;
      p.for_each(base, idx, [&](int64_t i) {
        double d = static_cast<double>(to_compute(xd[i])) - mean;
        sq += d * d;
      });
      double denom = std::sqrt(sq / static_cast<double>(p.red_count)) + 1e-9;
      p.for_each(base, idx, [&](int64_t i) {
        double v = (static_cast<double>(to_compute(xd[i])) - mean) / denom;
        yd[i] = from_compute<T>(static_cast<compute_t<T>>(v));
      });
    }
  });
}

Status mvn_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 'X'");
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> axes = ctx.attr_ints("axes", {0, 2, 3});
  KILN_ASSIGN_OR_RETURN(std::vector<bool> reduce, reduce_dims(ctx, x.rank(), axes, true));
  ReducePlan p = make_plan(x.shape(), reduce, true);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  bool ok = false;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsFloat<T>) {
      mvn_typed<T>(ctx, p, x, *y);
      ok = true;
    }
  });
  if (!ok) return ctx.invalid(std::string("unsupported input dtype ") + dtype_name(x.dtype()));
  return Status::ok();
}

}  // namespace

void register_reduction_kernels(KernelRegistry& r) {
  using K = ReduceKind;
  r.add("", "ReduceSum", reduce_kernel<K::kSum, 13>);
  r.add("", "ReduceMean", reduce_kernel<K::kMean, 18>);
  r.add("", "ReduceMax", reduce_kernel<K::kMax, 18>);
  r.add("", "ReduceMin", reduce_kernel<K::kMin, 18>);
  r.add("", "ReduceProd", reduce_kernel<K::kProd, 18>);
  r.add("", "ReduceL1", reduce_kernel<K::kL1, 18>);
  r.add("", "ReduceL2", reduce_kernel<K::kL2, 18>);
  r.add("", "ReduceLogSum", reduce_kernel<K::kLogSum, 18>);
  r.add("", "ReduceLogSumExp", reduce_kernel<K::kLogSumExp, 18>);
  r.add("", "ReduceSumSquare", reduce_kernel<K::kSumSquare, 18>);
  r.add("", "ArgMax", argmax_kernel);
  r.add("", "ArgMin", argmin_kernel);
  r.add("", "Softmax", softmax_kernel);
  r.add("", "LogSoftmax", log_softmax_kernel);
  r.add("", "Hardmax", hardmax_kernel);
  r.add("", "LayerNormalization", layer_norm_kernel, 17);
  r.add("", "InstanceNormalization", instance_norm_kernel);
  r.add("", "LpNormalization", lp_norm_kernel);
  r.add("", "MeanVarianceNormalization", mvn_kernel, 9);
  r.add("", "TopK", topk_kernel);
  r.add("", "CumSum", cumsum_kernel, 11);
}

}  // namespace kiln::cpu
