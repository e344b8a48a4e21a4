// CPU reference kernels: ops that cut, join or repeat tensors along axes (Concat, Split, Slice,
// Tile, Pad). Elements are moved as raw bytes, so every storable dtype works.
#include <algorithm>
#include <cstring>
#include <limits>

#include "runtime/cpu/ops/common.h"
#include "runtime/cpu/ops/shape_internal.h"

namespace kiln::cpu::shape_ops {
namespace {

Status concat_kernel(OpContext& ctx) {
  if (ctx.num_inputs() == 0) return ctx.invalid("needs at least one input");
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is missing");
  if (!ctx.has_attr("axis")) return ctx.invalid("attribute 'axis' is required");
  const Tensor& x0 = ctx.input(0);
  const int64_t r = x0.rank();
  if (r == 0) return ctx.invalid("cannot concatenate scalars");
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(ctx, ctx.attr_int("axis", 0), r, "axis"));
  Shape out = x0.shape();
  out[axis] = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& x = ctx.input(i);
    if (x.dtype() != x0.dtype())
      return ctx.invalid("input " + std::to_string(i) + " has dtype " + dtype_name(x.dtype()) +
                         ", input 0 has " + dtype_name(x0.dtype()));
    bool ok = x.rank() == r;
    for (int64_t d = 0; ok && d < r; ++d) ok = d == axis || x.shape()[d] == x0.shape()[d];
    if (!ok)
      return ctx.invalid("input " + std::to_string(i) + " has shape " + shape_to_string(x.shape()) +
                         ", which does not match input 0 shape " + shape_to_string(x0.shape()) +
                         " outside axis " + std::to_string(axis));
    if (!checked_add(out[axis], x.shape()[axis], &out[axis]))
      return ctx.invalid("concatenated dimension overflows");
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x0.dtype(), out));
  if (y->numel() == 0) return Status::ok();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out[d];
  for (int64_t d = axis + 1; d < r; ++d) inner *= out[d];
  const size_t es = dtype_size(x0.dtype());
  const int64_t out_block = out[axis] * inner;
  int64_t acc = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& x = ctx.input(i);
    const int64_t block = x.shape()[axis] * inner;
    if (block > 0) {
      ctx.parallel_for(outer, std::max<int64_t>(1, 16384 / block), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o)
          copy_elems(at(*y, o * out_block + acc), at(x, o * block), es, block);
      });
    }
    acc += block;
  }
  return Status::ok();
}

Status split_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 0");
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0) return ctx.invalid("cannot split a scalar");
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(ctx, ctx.attr_int("axis", 0), x.rank(), "axis"));
  const int64_t n = static_cast<int64_t>(ctx.num_outputs());
  const int64_t dim = x.shape()[axis];
  std::vector<int64_t> split;
  bool given = false;
  if (ctx.opset() >= 13) {
    if (ctx.has_input(1)) {
      KILN_ASSIGN_OR_RETURN(split, read_int_list(ctx, 1, "split"));
      given = true;
    }
  } else if (ctx.has_attr("split")) {
    split = ctx.attr_ints("split");
    given = true;
  }
  const bool has_num = ctx.opset() >= 18 && ctx.has_attr("num_outputs");
  if (given && has_num) return ctx.invalid("'split' and 'num_outputs' are both given");
  if (n == 0) return ctx.invalid("has no outputs");
  if (given) {
    if (static_cast<int64_t>(split.size()) != n)
      return ctx.invalid("'split' has " + std::to_string(split.size()) + " entries for " +
                         std::to_string(n) + " outputs");
    int64_t sum = 0;
    for (int64_t s : split) {
      if (s < 0 || !checked_add(sum, s, &sum))
        return ctx.invalid("'split' " + shape_to_string(split) + " has a negative or huge entry");
    }
    if (sum != dim)
      return ctx.invalid("'split' " + shape_to_string(split) + " sums to " + std::to_string(sum) +
                         " but axis " + std::to_string(axis) + " has size " + std::to_string(dim));
  } else if (has_num) {
    const int64_t num = ctx.attr_int("num_outputs", 0);
    if (num != n)
      return ctx.invalid("num_outputs is " + std::to_string(num) + " but the node has " +
                         std::to_string(n) + " outputs");
    const int64_t chunk = (dim + n - 1) / n;
    const int64_t last = dim - chunk * (n - 1);
    if (last < 0)
      return ctx.invalid("cannot split a dimension of " + std::to_string(dim) + " into " +
                         std::to_string(n) + " chunks of " + std::to_string(chunk));
    split.assign(n, chunk);
    split.back() = last;
  } else {
    if (dim % n != 0)
      return ctx.invalid("axis " + std::to_string(axis) + " of size " + std::to_string(dim) +
                         " does not split evenly into " + std::to_string(n) + " outputs");
    split.assign(n, dim / n);
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  const size_t es = dtype_size(x.dtype());
  const int64_t in_block = dim * inner;
  int64_t acc = 0;
  for (int64_t i = 0; i < n; ++i) {
    Shape s = x.shape();
    s[axis] = split[i];
    const int64_t block = split[i] * inner, start = acc;
    acc += block;
    if (!ctx.wants_output(i)) continue;
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(i, x.dtype(), s));
    if (block == 0) continue;
    ctx.parallel_for(outer, std::max<int64_t>(1, 16384 / block), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        copy_elems(at(*y, o * block), at(x, o * in_block + start), es, block);
    });
  }
  return Status::ok();
}

Status slice_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 0");
  const Tensor& x = ctx.input(0);
  const int64_t r = x.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  bool has_axes = false, has_steps = false;
  if (ctx.opset() < 10) {
    if (!ctx.has_attr("starts") || !ctx.has_attr("ends"))
      return ctx.invalid("attributes 'starts' and 'ends' are required");
    starts = ctx.attr_ints("starts");
    ends = ctx.attr_ints("ends");
    if ((has_axes = ctx.has_attr("axes"))) axes = ctx.attr_ints("axes");
  } else {
    KILN_ASSIGN_OR_RETURN(starts, read_int_list(ctx, 1, "starts", true));
    KILN_ASSIGN_OR_RETURN(ends, read_int_list(ctx, 2, "ends", true));
    if ((has_axes = ctx.has_input(3))) {
      KILN_ASSIGN_OR_RETURN(axes, read_int_list(ctx, 3, "axes", true));
    }
    if ((has_steps = ctx.has_input(4))) {
      KILN_ASSIGN_OR_RETURN(steps, read_int_list(ctx, 4, "steps", true));
    }
  }
  const size_t k = starts.size();
  if (ends.size() != k || (has_axes && axes.size() != k) || (has_steps && steps.size() != k))
    return ctx.invalid("starts, ends, axes and steps must have the same length (got " +
                       std::to_string(starts.size()) + ", " + std::to_string(ends.size()) +
                       (has_axes ? ", " + std::to_string(axes.size()) : std::string()) +
                       (has_steps ? ", " + std::to_string(steps.size()) : std::string()) + ")");
  if (!has_axes)
    for (size_t i = 0; i < k; ++i) axes.push_back(static_cast<int64_t>(i));
  if (!has_steps) steps.assign(k, 1);
  KILN_ASSIGN_OR_RETURN(axes, norm_axes(ctx, axes, r, "axis"));
  Shape out = x.shape();
  std::vector<int64_t> in_st = strides_of(x.shape()), st = in_st;
  int64_t base = 0;
  for (size_t i = 0; i < k; ++i) {
    const int64_t a = axes[i], d = x.shape()[a];
    // INT64_MIN and -INT64_MAX take the same elements; the latter can be negated.
    const int64_t step = std::max(steps[i], -std::numeric_limits<int64_t>::max());
    if (step == 0) return ctx.invalid("step for axis " + std::to_string(a) + " is 0");
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s = s < -d ? -1 - d : s + d;  // keeps INT64_MIN from wrapping
    if (e < 0) e = e < -d ? -1 - d : e + d;
    int64_t count = 0;
    if (d > 0) {
      if (step > 0) {
        s = std::clamp<int64_t>(s, 0, d);
        e = std::clamp<int64_t>(e, 0, d);
        if (e > s) count = (e - s - 1) / step + 1;
      } else {
        s = std::clamp<int64_t>(s, 0, d - 1);
        e = std::clamp<int64_t>(e, -1, d - 1);
        if (s > e) count = (s - e - 1) / (-step) + 1;
      }
    }
    out[a] = count;
    if (count > 0) base += s * in_st[a];
    st[a] = in_st[a] * (count > 1 ? step : 1);
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), out));
  strided_copy(ctx, y->raw_data(), x.raw_data(), dtype_size(x.dtype()), out, st, base);
  return Status::ok();
}

Status tile_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("needs inputs 'input', 'repeats'");
  const Tensor& x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> reps, read_int_list(ctx, 1, "repeats"));
  const int r = x.rank();
  if (static_cast<int>(reps.size()) != r)
    return ctx.invalid("'repeats' has " + std::to_string(reps.size()) +
                       " entries for an input of rank " + std::to_string(r));
  Shape out(r), view(2 * r);
  std::vector<int64_t> in_st = strides_of(x.shape()), st(2 * r);
  for (int i = 0; i < r; ++i) {
    if (reps[i] < 0)
      return ctx.invalid("'repeats' " + shape_to_string(reps) + " has a negative entry");
    if (!checked_mul(x.shape()[i], reps[i], &out[i]))
      return ctx.invalid("tiled dimension " + std::to_string(i) + " overflows");
    view[2 * i] = reps[i];
    view[2 * i + 1] = x.shape()[i];
    st[2 * i] = 0;
    st[2 * i + 1] = in_st[i];
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), out));
  strided_copy(ctx, y->raw_data(), x.raw_data(), dtype_size(x.dtype()), view, st, 0);
  return Status::ok();
}

// Index in [0, n) that output position i (relative to the cropped region) reads, or -1 for the
// constant value.
int64_t pad_source(const std::string& mode, int64_t i, int64_t n) {
  if (i >= 0 && i < n) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return i < 0 ? 0 : n - 1;
  if (mode == "wrap") return ((i % n) + n) % n;
  if (n == 1) return 0;  // reflect
  const int64_t p = 2 * (n - 1);
  int64_t m = ((i % p) + p) % p;
  return m >= n ? p - m : m;
}

Status pad_kernel(OpContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("missing input 0");
  const Tensor& x = ctx.input(0);
  const int64_t r = x.rank();
  const size_t es = dtype_size(x.dtype());
  const std::string mode = ctx.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" &&
      !(mode == "wrap" && ctx.opset() >= 19))
    return ctx.invalid("unknown mode '" + mode + "'");
  std::vector<int64_t> pads, axes;
  auto cval = Tensor::create(x.dtype(), {});
  if (!cval) return cval.status().with_context(ctx.node().describe());
  if (ctx.opset() < 11) {
    if (!ctx.has_attr("pads")) return ctx.invalid("attribute 'pads' is required");
    pads = ctx.attr_ints("pads");
    cval->set_from_double(0, ctx.attr_float("value", 0.0f));
  } else {
    KILN_ASSIGN_OR_RETURN(pads, read_int_list(ctx, 1, "pads"));
    if (ctx.has_input(2)) {
      const Tensor& c = ctx.input(2);
      if (c.dtype() != x.dtype())
        return ctx.invalid("constant_value has dtype " + std::string(dtype_name(c.dtype())) +
                           ", the data has " + dtype_name(x.dtype()));
      if (c.numel() > 1 || c.rank() > 1)
        return ctx.invalid("constant_value must be a scalar, got shape " +
                           shape_to_string(c.shape()));
      if (c.numel() == 1) std::memcpy(cval->raw_data(), c.raw_data(), es);
    }
  }
  if (ctx.opset() >= 18 && ctx.has_input(3)) {
    KILN_ASSIGN_OR_RETURN(auto ax, read_int_list(ctx, 3, "axes", true));
    KILN_ASSIGN_OR_RETURN(axes, norm_axes(ctx, ax, r, "axis"));
  } else {
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  }
  const size_t na = axes.size();
  if (pads.size() != 2 * na)
    return ctx.invalid("'pads' has " + std::to_string(pads.size()) + " entries, expected " +
                       std::to_string(2 * na) + " for " + std::to_string(na) + " axes");
  std::vector<int64_t> pb(r, 0), pe(r, 0);
  for (size_t i = 0; i < na; ++i) {
    pb[axes[i]] = pads[i];
    pe[axes[i]] = pads[i + na];
  }
  // Negative pads crop [lo, hi) first; positive pads then extend the cropped region.
  Shape out(r);
  std::vector<int64_t> lo(r), n(r);
  for (int64_t d = 0; d < r; ++d) {
    const int64_t dim = x.shape()[d];
    lo[d] = pb[d] < 0 ? -pb[d] : 0;
    const int64_t cut_end = pe[d] < 0 ? -pe[d] : 0;
    if (lo[d] > dim || cut_end > dim - lo[d] || !checked_add(dim, pb[d], &out[d]) ||
        !checked_add(out[d], pe[d], &out[d]))
      return ctx.invalid("pads " + shape_to_string(pads) + " are invalid for input shape " +
                         shape_to_string(x.shape()));
    n[d] = dim - lo[d] - cut_end;
    if (mode != "constant" && n[d] == 0 && out[d] > 0)
      return ctx.invalid("cannot pad an empty axis " + std::to_string(d) + " in mode '" + mode +
                         "'");
  }
  KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocate_output(0, x.dtype(), out));
  if (y->numel() == 0) return Status::ok();
  // Per-axis source offsets (in elements) for every output position, -1 for the constant.
  const std::vector<int64_t> in_st = strides_of(x.shape());
  std::vector<std::vector<int64_t>> src(r);
  for (int64_t d = 0; d < r; ++d) {
    src[d].resize(out[d]);
    const int64_t before = std::max<int64_t>(pb[d], 0);
    for (int64_t o = 0; o < out[d]; ++o) {
      int64_t s = pad_source(mode, o - before, n[d]);
      src[d][o] = s < 0 ? -1 : (lo[d] + s) * in_st[d];
    }
  }
  const auto* cv = static_cast<const uint8_t*>(cval->raw_data());
  if (r == 0) {
    copy_elems(y->raw_data(), x.raw_data(), es, 1);
    return Status::ok();
  }
  const int64_t inner = out[r - 1], rows = y->numel() / inner;
  ctx.parallel_for(rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t off = 0, rem = row;
      for (int64_t d = r - 2; d >= 0 && off >= 0; --d) {
        const int64_t s = src[d][rem % out[d]];
        rem /= out[d];
        off = s < 0 ? -1 : off + s;
      }
      uint8_t* dst = at(*y, row * inner);
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t s = src[r - 1][j];
        std::memcpy(dst + j * es, off < 0 || s < 0 ? cv : at(x, off + s), es);
      }
    }
  });
  return Status::ok();
}

}  // namespace

void register_shape_layout_kernels(KernelRegistry& r) {
  r.add("", "Concat", concat_kernel);
  r.add("", "Split", split_kernel);
  r.add("", "Slice", slice_kernel);
  r.add("", "Tile", tile_kernel);
  r.add("", "Pad", pad_kernel);
}

}  // namespace kiln::cpu::shape_ops
