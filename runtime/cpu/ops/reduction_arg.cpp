// CPU reference kernels that work along one axis and pick or scan elements: ArgMax, ArgMin,
// TopK and CumSum. NaN counts as the largest value and ranks first for ArgMax/ArgMin (like
// numpy); ties keep the lower index first unless select_last_index asks otherwise.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>

#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/common.h"

namespace kiln::cpu {

namespace {

template <typename C>
bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>)
    return std::isnan(v);
  else
    return false;
}

// A tensor seen as [outer, n, inner] around one axis.
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisView axis_view(const Shape& shape, int64_t axis) {
  AxisView v;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis)
      v.outer *= shape[d];
    else if (d == axis)
      v.n = shape[d];
    else
      v.inner *= shape[d];
  }
  return v;
}

// ---- ArgMax / ArgMin ----------------------------------------------------------------------------

template <bool kMax, typename T>
void arg_typed(OpContext& ctx, const AxisView& v, const Tensor& x, Tensor& y, bool last) {
  const T* xd = x.data<T>();
  int64_t* yd = y.data<int64_t>();
  ctx.parallel_for(v.outer * v.inner, std::max<int64_t>(1, 16384 / std::max<int64_t>(v.n, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t r = b; r < e; ++r) {
                       int64_t o = r / v.inner, j = r % v.inner;
                       const T* row = xd + o * v.n * v.inner + j;
                       auto best = to_compute(row[0]);
                       int64_t bi = 0;
                       for (int64_t i = 1; i < v.n; ++i) {
                         auto c = to_compute(row[i * v.inner]);
                         bool better, tie;
                         if (is_nan(best)) {
                           better = false;
                           tie = is_nan(c);
                         } else if (is_nan(c)) {
                           better = true;
                           tie = false;
                         } else {
                           better = kMax ? c > best : c < best;
                           tie = c == best;
                         }
                         if (better || (last && tie)) {
                           best = c;
                           bi = i;
                         }
                       }
                       yd[r] = bi;
                     }
                   });
}

template <bool kMax>
Status arg_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 'data'");
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  if (rank == 0) return ctx.invalid("input must have rank >= 1");
  int64_t axis = ctx.attr_int("axis", 0);
  if (axis < (ctx.opset() >= 11 ? -rank : 0) || axis >= rank)
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
  if (axis < 0) axis += rank;
  const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  const bool last = ctx.opset() >= 12 && ctx.attr_int("select_last_index", 0) != 0;
  AxisView v = axis_view(x.shape(), axis);
  Shape out;
  for (int64_t d = 0; d < rank; ++d) {
    if (d != axis)
      out.push_back(x.dim(static_cast<int>(d)));
    else if (keepdims)
      out.push_back(1);
  }
  if (v.n == 0 && v.outer * v.inner > 0)
    return ctx.invalid("cannot take the arg" + std::string(kMax ? "max" : "min") +
                       " of an empty axis (shape " + shape_to_string(x.shape()) + ")");
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kInt64, out));
  bool ok = false;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      arg_typed<kMax, T>(ctx, v, x, *y, last);
      ok = true;
    }
  });
  if (!ok) return ctx.invalid(std::string("unsupported input dtype ") + dtype_name(x.dtype()));
  return Status::ok();
}

// ---- TopK
// -----------------------------------------------------------------------------------------

template <typename T>
void topk_typed(OpContext& ctx, const AxisView& v, int64_t k, bool largest, const Tensor& x,
                Tensor* values, Tensor* indices) {
  const T* xd = x.data<T>();
  T* vd = values ? values->data<T>() : nullptr;
  int64_t* id = indices ? indices->data<int64_t>() : nullptr;
  ctx.parallel_for(v.outer * v.inner, std::max<int64_t>(1, 4096 / std::max<int64_t>(v.n, 1)),
                   [&](int64_t b, int64_t e) {
                     std::vector<int64_t> order;
                     for (int64_t r = b; r < e; ++r) {
                       int64_t o = r / v.inner, j = r % v.inner;
                       const T* row = xd + o * v.n * v.inner + j;
                       order.resize(static_cast<size_t>(v.n));
                       std::iota(order.begin(), order.end(), int64_t{0});
                       // A strict total order: by value (NaN largest), then by index.
                       auto before = [&](int64_t a, int64_t c) {
                         auto va = to_compute(row[a * v.inner]), vc = to_compute(row[c * v.inner]);
                         bool na = is_nan(va), nc = is_nan(vc);
                         if (na != nc) return largest ? na : nc;
                         if (!na && va != vc) return largest ? va > vc : va < vc;
                         return a < c;
                       };
                       std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
                       int64_t out_base = o * k * v.inner + j;
                       for (int64_t i = 0; i < k; ++i) {
                         if (vd) vd[out_base + i * v.inner] = row[order[i] * v.inner];
                         if (id) id[out_base + i * v.inner] = order[i];
                       }
                     }
                   });
}

Status topk_impl(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 'X'");
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  if (rank == 0) return ctx.invalid("input must have rank >= 1");
  int64_t k;
  if (ctx.opset() < 10) {
    if (!ctx.has_attr("k")) return ctx.invalid("attribute 'k' is required before opset 10");
    k = ctx.attr_int("k", 0);
  } else {
    if (!ctx.has_input(1)) return ctx.invalid("missing input 'K'");
    const Tensor& kt = ctx.input(1);
    if (kt.dtype() != DType::kInt64)
      return ctx.invalid(std::string("input 'K' must be int64, got ") + dtype_name(kt.dtype()));
    if (kt.rank() > 1 || kt.numel() != 1)
      return ctx.invalid("input 'K' must hold exactly one value, got shape " +
                         shape_to_string(kt.shape()));
    k = kt.data<int64_t>()[0];
  }
  int64_t axis = ctx.attr_int("axis", -1);
  if (axis < -rank || axis >= rank)
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
  if (axis < 0) axis += rank;
  const bool largest = ctx.opset() < 11 || ctx.attr_int("largest", 1) != 0;
  // sorted=0 leaves the order unspecified; sorted output is one valid answer.
  AxisView v = axis_view(x.shape(), axis);
  if (k < 0 || k > v.n)
    return ctx.runtime("k = " + std::to_string(k) + " is out of range for axis " +
                       std::to_string(axis) + " of size " + std::to_string(v.n));
  Shape out = x.shape();
  out[axis] = k;
  Tensor* values = nullptr;
  Tensor* indices = nullptr;
  if (ctx.wants_output(0)) {
    KILN_ASSIGN_OR_RETURN(values, ctx.allocate_output(0, x.dtype(), out));
  }
  if (ctx.wants_output(1)) {
    KILN_ASSIGN_OR_RETURN(indices, ctx.allocate_output(1, DType::kInt64, out));
  }
  bool ok = false;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      topk_typed<T>(ctx, v, k, largest, x, values, indices);
      ok = true;
    }
  });
  if (!ok) return ctx.invalid(std::string("unsupported input dtype ") + dtype_name(x.dtype()));
  return Status::ok();
}

// ---- CumSum
// ---------------------------------------------------------------------------------------

template <typename T>
void cumsum_typed(OpContext& ctx, const AxisView& v, bool exclusive, bool reverse, const Tensor& x,
                  Tensor& y) {
  const T* xd = x.data<T>();
  T* yd = y.data<T>();
  constexpr bool kFloat = std::is_floating_point_v<compute_t<T>>;
  using Acc = std::conditional_t<kFloat, double, uint64_t>;  // integers wrap in 64 bits
  ctx.parallel_for(v.outer * v.inner, std::max<int64_t>(1, 16384 / std::max<int64_t>(v.n, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t r = b; r < e; ++r) {
                       int64_t base = (r / v.inner) * v.n * v.inner + r % v.inner;
                       Acc acc = 0;
                       for (int64_t s = 0; s < v.n; ++s) {
                         int64_t i = base + (reverse ? v.n - 1 - s : s) * v.inner;
                         Acc xv = static_cast<Acc>(to_compute(xd[i]));
                         if (!exclusive) acc += xv;
                         if constexpr (kFloat)
                           yd[i] = from_compute<T>(static_cast<compute_t<T>>(acc));
                         else
                           yd[i] = static_cast<T>(acc);
                         if (exclusive) acc += xv;
                       }
                     }
                   });
}

Status cumsum_impl(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 'x'");
  if (!ctx.has_input(1)) return ctx.invalid("missing input 'axis'");
  const Tensor& x = ctx.input(0);
  const Tensor& at = ctx.input(1);
  if (at.dtype() != DType::kInt64 && at.dtype() != DType::kInt32)
    return ctx.invalid(std::string("input 'axis' must be int32 or int64, got ") +
                       dtype_name(at.dtype()));
  if (at.rank() > 1 || at.numel() != 1)
    return ctx.invalid("input 'axis' must be a scalar, got shape " + shape_to_string(at.shape()));
  const int64_t rank = x.rank();
  if (rank == 0) return ctx.invalid("input must have rank >= 1");
  int64_t axis = at.to_int64_vector()[0];
  if (axis < -rank || axis >= rank)
    return ctx.runtime("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
  if (axis < 0) axis += rank;
  const bool exclusive = ctx.attr_int("exclusive", 0) != 0;
  const bool reverse = ctx.attr_int("reverse", 0) != 0;
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  AxisView v = axis_view(x.shape(), axis);
  bool ok = false;
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      cumsum_typed<T>(ctx, v, exclusive, reverse, x, *y);
      ok = true;
    }
  });
  if (!ok) return ctx.invalid(std::string("unsupported input dtype ") + dtype_name(x.dtype()));
  return Status::ok();
}

}  // namespace

Status argmax_kernel(OpContext& ctx) {
  return arg_kernel<true>(ctx);
}
Status argmin_kernel(OpContext& ctx) {
  return arg_kernel<false>(ctx);
}
Status topk_kernel(OpContext& ctx) {
  return topk_impl(ctx);
}
Status cumsum_kernel(OpContext& ctx) {
  return cumsum_impl(ctx);
}

}  // namespace kiln::cpu
