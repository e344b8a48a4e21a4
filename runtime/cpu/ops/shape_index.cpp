// CPU reference kernels: ops driven by index or mask data (Gather, GatherElements, GatherND,
// Scatter, ScatterElements, ScatterND, Compress, NonZero, OneHot). Every index is checked before
// it is used: an out-of-range index is a runtime error naming it, never an out-of-bounds access.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/shape_internal.h"

namespace kiln::cpu::shape_ops {
namespace {

Expected<std::vector<int64_t>> read_indices(const OpContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return ctx.invalid("missing input 'indices'");
  const Tensor& t = ctx.input(i);
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32)
    return ctx.invalid("indices must be int32 or int64, got " + std::string(dtype_name(t.dtype())));
  return t.to_int64_vector();
}

// Maps index v into [0, dim) or fails naming it.
Status fix_index(const OpContext& ctx, int64_t& v, int64_t dim, int64_t pos,
                 const std::string& where) {
  if (v < -dim || v >= dim)
    return ctx.runtime("index " + std::to_string(v) + " (indices element " + std::to_string(pos) +
                       ") is out of range [" + std::to_string(-dim) + ", " +
                       std::to_string(dim - 1) + "] for " + where);
  if (v < 0) v += dim;
  return Status::ok();
}

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Expected<Reduction> read_reduction(const OpContext& ctx, int add_mul_since, int max_min_since) {
  const std::string s = ctx.attr_string("reduction", "none");
  if (s == "none") return Reduction::kNone;
  if (ctx.opset() >= add_mul_since && s == "add") return Reduction::kAdd;
  if (ctx.opset() >= add_mul_since && s == "mul") return Reduction::kMul;
  if (ctx.opset() >= max_min_since && s == "max") return Reduction::kMax;
  if (ctx.opset() >= max_min_since && s == "min") return Reduction::kMin;
  return ctx.invalid("reduction '" + s + "' is not valid at opset " + std::to_string(ctx.opset()));
}

template <typename T>
void reduce_typed(uint8_t* dst, const uint8_t* src, int64_t n, Reduction red) {
  T* d = reinterpret_cast<T*>(dst);
  const T* s = reinterpret_cast<const T*>(src);
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, bool>) {
      switch (red) {
        case Reduction::kAdd:
        case Reduction::kMax:
          d[i] = d[i] || s[i];
          break;
        case Reduction::kMul:
        case Reduction::kMin:
          d[i] = d[i] && s[i];
          break;
        case Reduction::kNone:
          d[i] = s[i];
          break;
      }
    } else {
      compute_t<T> a = to_compute(d[i]), b = to_compute(s[i]);
      switch (red) {
        case Reduction::kAdd:
          a = static_cast<compute_t<T>>(a + b);
          break;
        case Reduction::kMul:
          a = static_cast<compute_t<T>>(a * b);
          break;
        case Reduction::kMax:
          a = std::max(a, b);
          break;
        case Reduction::kMin:
          a = std::min(a, b);
          break;
        case Reduction::kNone:
          a = b;
          break;
      }
      d[i] = from_compute<T>(a);
    }
  }
}

// dst[0..n) = reduce(dst, src) in the tensor's dtype.
void reduce_into(DType dt, uint8_t* dst, const uint8_t* src, int64_t n, Reduction red) {
  if (red == Reduction::kNone) {
    copy_elems(dst, src, dtype_size(dt), n);
    return;
  }
  visit_dtype(dt, [&](auto tag) { reduce_typed<decltype(tag)>(dst, src, n, red); });
}

Status gather_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 'data'");
  const Tensor& x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_indices(ctx, 1));
  const Tensor& ind = ctx.input(1);
  if (x.rank() == 0) return ctx.invalid("data must have rank >= 1");
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(ctx, ctx.attr_int("axis", 0), x.rank(), "axis"));
  const int64_t dim = x.shape()[axis];
  for (size_t i = 0; i < idx.size(); ++i)
    KILN_RETURN_IF_ERROR(
        fix_index(ctx, idx[i], dim, i,
                  "axis " + std::to_string(axis) + " of data shape " + shape_to_string(x.shape())));
  Shape out(x.shape().begin(), x.shape().begin() + axis);
  out.insert(out.end(), ind.shape().begin(), ind.shape().end());
  out.insert(out.end(), x.shape().begin() + axis + 1, x.shape().end());
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), out));
  if (y->numel() == 0) return Status::ok();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  const int64_t n = static_cast<int64_t>(idx.size());
  const size_t es = dtype_size(x.dtype());
  ctx.parallel_for(outer * n, std::max<int64_t>(1, 16384 / inner), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t o = k / n, j = k % n;
      copy_elems(at(*y, k * inner), at(x, (o * dim + idx[j]) * inner), es, inner);
    }
  });
  return Status::ok();
}

// Shared by GatherElements, ScatterElements and Scatter: for every element of `indices`, the
// flat offset into data it addresses.
Expected<std::vector<int64_t>> element_offsets(const OpContext& ctx, const Tensor& data,
                                               const Tensor& ind, std::vector<int64_t> idx,
                                               int64_t axis) {
  const int64_t r = data.rank();
  if (ind.rank() != r)
    return ctx.invalid("indices have rank " + std::to_string(ind.rank()) + " but data has rank " +
                       std::to_string(r));
  for (int64_t d = 0; d < r; ++d)
    if (d != axis && ind.shape()[d] > data.shape()[d])
      return ctx.invalid("indices shape " + shape_to_string(ind.shape()) + " exceeds data shape " +
                         shape_to_string(data.shape()) + " on axis " + std::to_string(d));
  const std::vector<int64_t> st = strides_of(data.shape());
  std::vector<int64_t> pos(r, 0);
  int64_t base = 0;
  const std::string where =
      "axis " + std::to_string(axis) + " of data shape " + shape_to_string(data.shape());
  for (int64_t i = 0; i < static_cast<int64_t>(idx.size()); ++i) {
    KILN_RETURN_IF_ERROR(fix_index(ctx, idx[i], data.shape()[axis], i, where));
    idx[i] = base + idx[i] * st[axis];
    for (int64_t d = r - 1; d >= 0; --d) {
      if (d != axis) base += st[d];
      if (++pos[d] < ind.shape()[d]) break;
      if (d != axis) base -= st[d] * ind.shape()[d];
      pos[d] = 0;
    }
  }
  return idx;
}

Status gather_elements_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 'data'");
  const Tensor& x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_indices(ctx, 1));
  const Tensor& ind = ctx.input(1);
  if (x.rank() == 0) return ctx.invalid("data must have rank >= 1");
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(ctx, ctx.attr_int("axis", 0), x.rank(), "axis"));
  KILN_ASSIGN_OR_RETURN(auto offs, element_offsets(ctx, x, ind, std::move(idx), axis));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), ind.shape()));
  const size_t es = dtype_size(x.dtype());
  for (size_t i = 0; i < offs.size(); ++i) std::memcpy(at(*y, i), at(x, offs[i]), es);
  return Status::ok();
}

Status scatter_elements_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(2)) return ctx.invalid("needs data, indices, updates");
  const Tensor& x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_indices(ctx, 1));
  const Tensor& ind = ctx.input(1);
  const Tensor& upd = ctx.input(2);
  Reduction red = Reduction::kNone;
  if (ctx.node().op_type() == "ScatterElements") {
    KILN_ASSIGN_OR_RETURN(red, read_reduction(ctx, 16, 18));
  }
  if (x.rank() == 0) return ctx.invalid("data must have rank >= 1");
  if (upd.dtype() != x.dtype())
    return ctx.invalid("updates have dtype " + std::string(dtype_name(upd.dtype())) +
                       ", data has " + dtype_name(x.dtype()));
  if (upd.shape() != ind.shape())
    return ctx.invalid("updates shape " + shape_to_string(upd.shape()) +
                       " differs from indices shape " + shape_to_string(ind.shape()));
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(ctx, ctx.attr_int("axis", 0), x.rank(), "axis"));
  KILN_ASSIGN_OR_RETURN(auto offs, element_offsets(ctx, x, ind, std::move(idx), axis));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  copy_elems(y->raw_data(), x.raw_data(), dtype_size(x.dtype()), x.numel());
  for (size_t i = 0; i < offs.size(); ++i)
    reduce_into(x.dtype(), at(*y, offs[i]), at(upd, i), 1, red);
  return Status::ok();
}

// Checks the ND index tuples of `ind` (last dim m) against data dims [b, b+m) and returns, per
// tuple, the flat offset (in units of `slice` elements, batch included).
Expected<std::vector<int64_t>> nd_offsets(const OpContext& ctx, const Tensor& data,
                                          const Tensor& ind, int64_t b, int64_t* slice) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_indices(ctx, 1));
  const int64_t r = data.rank(), q = ind.rank();
  if (r < 1 || q < 1) return ctx.invalid("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q))
    return ctx.invalid("batch_dims " + std::to_string(b) + " must be in [0, min(rank(data), " +
                       "rank(indices)))");
  for (int64_t d = 0; d < b; ++d)
    if (data.shape()[d] != ind.shape()[d])
      return ctx.invalid("batch dimensions of data " + shape_to_string(data.shape()) +
                         " and indices " + shape_to_string(ind.shape()) + " differ");
  const int64_t m = ind.shape()[q - 1];
  if (m < 1 || m > r - b)
    return ctx.invalid("last dimension of indices (" + std::to_string(m) + ") must be in [1, " +
                       std::to_string(r - b) + "]");
  *slice = 1;
  for (int64_t d = b + m; d < r; ++d) *slice *= data.shape()[d];
  int64_t per_batch = 1;  // index tuples per batch
  for (int64_t d = b; d < q - 1; ++d) per_batch *= ind.shape()[d];
  int64_t batch_elems = 1;  // slices per batch in data
  for (int64_t d = b; d < b + m; ++d) batch_elems *= data.shape()[d];
  const int64_t tuples = static_cast<int64_t>(idx.size()) / m;
  std::vector<int64_t> offs(tuples);
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = 0;
    for (int64_t k = 0; k < m; ++k) {
      int64_t v = idx[t * m + k];
      KILN_RETURN_IF_ERROR(fix_index(
          ctx, v, data.shape()[b + k], t * m + k,
          "data axis " + std::to_string(b + k) + " of shape " + shape_to_string(data.shape())));
      off = off * data.shape()[b + k] + v;
    }
    offs[t] = (per_batch ? t / per_batch : 0) * batch_elems + off;
  }
  return offs;
}

Status gather_nd_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("needs data and indices");
  const Tensor& x = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const int64_t b = ctx.opset() >= 12 ? ctx.attr_int("batch_dims", 0) : 0;
  int64_t slice = 0;
  KILN_ASSIGN_OR_RETURN(auto offs, nd_offsets(ctx, x, ind, b, &slice));
  Shape out(ind.shape().begin(), ind.shape().end() - 1);
  const int64_t m = ind.shape().back();
  out.insert(out.end(), x.shape().begin() + b + m, x.shape().end());
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), out));
  const size_t es = dtype_size(x.dtype());
  for (size_t t = 0; t < offs.size(); ++t)
    copy_elems(at(*y, t * slice), at(x, offs[t] * slice), es, slice);
  return Status::ok();
}

Status scatter_nd_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2))
    return ctx.invalid("needs data, indices, updates");
  const Tensor& x = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const Tensor& upd = ctx.input(2);
  KILN_ASSIGN_OR_RETURN(Reduction red, read_reduction(ctx, 16, 18));
  if (upd.dtype() != x.dtype())
    return ctx.invalid("updates have dtype " + std::string(dtype_name(upd.dtype())) +
                       ", data has " + dtype_name(x.dtype()));
  if (ind.rank() >= 1) {
    const int64_t m = ind.shape().back();
    Shape want(ind.shape().begin(), ind.shape().end() - 1);
    if (m >= 0 && m <= x.rank()) want.insert(want.end(), x.shape().begin() + m, x.shape().end());
    if (upd.shape() != want)
      return ctx.invalid("updates shape " + shape_to_string(upd.shape()) + " should be " +
                         shape_to_string(want) + " for data " + shape_to_string(x.shape()) +
                         " and indices " + shape_to_string(ind.shape()));
  }
  int64_t slice = 0;
  KILN_ASSIGN_OR_RETURN(auto offs, nd_offsets(ctx, x, ind, 0, &slice));
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), x.shape()));
  copy_elems(y->raw_data(), x.raw_data(), dtype_size(x.dtype()), x.numel());
  for (size_t t = 0; t < offs.size(); ++t)
    reduce_into(x.dtype(), at(*y, offs[t] * slice), at(upd, t * slice), slice, red);
  return Status::ok();
}

Status compress_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("needs input and condition");
  const Tensor& x0 = ctx.input(0);
  const Tensor& cond = ctx.input(1);
  if (cond.dtype() != DType::kBool || cond.rank() != 1)
    return ctx.invalid("condition must be a 1-D bool tensor, got " +
                       std::string(dtype_name(cond.dtype())) + shape_to_string(cond.shape()));
  Tensor x = x0;
  int64_t axis = 0;
  if (ctx.has_attr("axis")) {
    if (x.rank() == 0) return ctx.invalid("axis given for a scalar input");
    KILN_ASSIGN_OR_RETURN(axis, norm_axis(ctx, ctx.attr_int("axis", 0), x.rank(), "axis"));
  } else {
    x = x.reshaped({x.numel()});
  }
  const int64_t dim = x.shape()[axis];
  std::vector<int64_t> sel;
  for (int64_t i = 0; i < cond.numel(); ++i) {
    if (!cond.data<bool>()[i]) continue;
    if (i >= dim)
      return ctx.runtime("condition element " + std::to_string(i) +
                         " is true but the axis has size " + std::to_string(dim));
    sel.push_back(i);
  }
  Shape out = x.shape();
  out[axis] = static_cast<int64_t>(sel.size());
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), out));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  const size_t es = dtype_size(x.dtype());
  const int64_t ns = static_cast<int64_t>(sel.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < ns; ++j)
      copy_elems(at(*y, (o * ns + j) * inner), at(x, (o * dim + sel[j]) * inner), es, inner);
  return Status::ok();
}

Status nonzero_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 0");
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> hits;
  bool ok = visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* d = x.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i)
      if (to_compute(d[i]) != compute_t<T>(0)) hits.push_back(i);
  });
  if (!ok) return ctx.unsupported_here("dtype " + std::string(dtype_name(x.dtype())));
  const Shape shape = x.rank() == 0 ? Shape{1} : x.shape();  // a scalar counts as [1]
  const int64_t r = static_cast<int64_t>(shape.size()), n = static_cast<int64_t>(hits.size());
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, DType::kInt64, {r, n}));
  int64_t* o = y->data<int64_t>();
  for (int64_t j = 0; j < n; ++j) {
    int64_t rem = hits[j];
    for (int64_t d = r - 1; d >= 0; --d) {
      o[d * n + j] = rem % shape[d];
      rem /= shape[d];
    }
  }
  return Status::ok();
}

Status onehot_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2))
    return ctx.invalid("needs indices, depth, values");
  const Tensor& ind = ctx.input(0);
  const Tensor& dep = ctx.input(1);
  const Tensor& vals = ctx.input(2);
  if (!is_float(ind.dtype()) && !is_integer(ind.dtype()))
    return ctx.invalid("indices must be numeric, got " + std::string(dtype_name(ind.dtype())));
  if ((!is_float(dep.dtype()) && !is_integer(dep.dtype())) || dep.numel() != 1 || dep.rank() > 1)
    return ctx.invalid("depth must be a numeric scalar or one-element tensor, got " +
                       std::string(dtype_name(dep.dtype())) + shape_to_string(dep.shape()));
  if (vals.rank() != 1 || vals.numel() != 2)
    return ctx.invalid("values must be a 2-element 1-D tensor, got shape " +
                       shape_to_string(vals.shape()));
  const double dd = dep.get_as_double(0);
  if (!(dd >= 1) || dd > 9.0e18)
    return ctx.invalid("depth " + std::to_string(dd) + " must be a positive integer");
  const int64_t depth = static_cast<int64_t>(dd);
  const int64_t r = ind.rank();
  int64_t axis = ctx.attr_int("axis", -1);
  if (axis < -(r + 1) || axis > r)
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for output rank " +
                       std::to_string(r + 1));
  if (axis < 0) axis += r + 1;
  Shape out = ind.shape();
  out.insert(out.begin() + axis, depth);
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, vals.dtype(), out));
  if (y->numel() == 0) return Status::ok();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= ind.shape()[d];
  for (int64_t d = axis; d < r; ++d) inner *= ind.shape()[d];
  const size_t es = dtype_size(vals.dtype());
  const uint8_t* off = at(vals, 0);
  const uint8_t* on = at(vals, 1);
  for (int64_t i = 0; i < y->numel(); ++i) std::memcpy(at(*y, i), off, es);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      const double v = ind.get_as_double(o * inner + j);
      if (!std::isfinite(v)) continue;
      int64_t k = static_cast<int64_t>(std::max(-9.0e18, std::min(9.0e18, v)));
      if (k < 0) k += depth;
      if (k < 0 || k >= depth) continue;
      std::memcpy(at(*y, (o * depth + k) * inner + j), on, es);
    }
  return Status::ok();
}

}  // namespace

void register_shape_index_kernels(KernelRegistry& r) {
  r.add("", "Gather", gather_kernel);
  r.add("", "GatherElements", gather_elements_kernel, 11);
  r.add("", "GatherND", gather_nd_kernel, 11);
  r.add("", "Scatter", scatter_elements_kernel, 9);
  r.add("", "ScatterElements", scatter_elements_kernel, 11);
  r.add("", "ScatterND", scatter_nd_kernel, 11);
  r.add("", "Compress", compress_kernel, 9);
  r.add("", "NonZero", nonzero_kernel, 9);
  r.add("", "OneHot", onehot_kernel, 9);
}

}  // namespace kiln::cpu::shape_ops
