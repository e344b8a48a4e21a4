// Backend-neutral parameter logic of the data-movement ops shared by the OpenCL and Vulkan
// backends (see data_params.h).
#include "runtime/device/data_params.h"

#include <algorithm>
#include <cstring>

namespace kiln::device {

namespace args {

Expected<std::vector<int64_t>> read_int_list(const std::vector<InputInfo>& in, size_t i,
                                             const std::string& what, bool allow_int32,
                                             bool allow_scalar) {
  if (in.size() <= i || !in[i].present || !in[i].host_value)
    return invalid_argument("missing host input '" + what + "'");
  const Tensor& t = *in[i].host_value;
  if (t.dtype() != DType::kInt64 && !(allow_int32 && t.dtype() == DType::kInt32))
    return invalid_argument("input '" + what + "' has dtype " + dtype_name(t.dtype()));
  if (t.rank() != 1 && !(allow_scalar && t.rank() == 0))
    return invalid_argument("input '" + what + "' must be a 1-D tensor, got shape " +
                            shape_to_string(t.shape()));
  return t.to_int64_vector();
}

Expected<std::vector<int64_t>> attr_ints(const ir::Node& n, const char* name) {
  const ir::Attribute* a = n.attr(name);
  if (!a || a->type != ir::AttrType::kInts)
    return invalid_argument(std::string("attribute '") + name + "' must be a list of ints");
  return a->ints;
}

Expected<int64_t> norm_axis(int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= rank)
    return invalid_argument(what + " " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

Expected<std::vector<int64_t>> norm_axes(const std::vector<int64_t>& axes, int64_t rank,
                                         const std::string& what) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(rank, 0)), false);
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t n, norm_axis(a, rank, what));
    if (seen[n]) return invalid_argument(what + " " + std::to_string(a) + " is repeated");
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

Support host_input(const std::vector<InputInfo>& in, size_t i, bool required) {
  if (in.size() <= i || !in[i].present)
    return required ? Support::no("missing input " + std::to_string(i)) : Support::yes();
  if (!in[i].host_value) return Support::no("input " + std::to_string(i) + " is not on the host");
  return Support::yes();
}

}  // namespace args

using args::attr_ints;
using args::both;
using args::host_input;
using args::norm_axes;
using args::read_int_list;

Support pad_supports(const ir::Node& n, const std::vector<InputInfo>& in, Support data) {
  Support s = std::move(data);
  if (!s.ok || n.opset() < 11) return s;
  s = both(s, host_input(in, 1, true));
  if (n.opset() >= 18) s = both(s, host_input(in, 3, false));
  if (s.ok && in.size() > 2 && in[2].present) {
    if (in[2].desc.dtype != in[0].desc.dtype)
      return Support::no("constant_value dtype differs from the data");
    if (in[2].desc.numel() > 1 || in[2].desc.shape.size() > 1)
      return Support::no("constant_value must be a scalar");
  }
  return s;
}

namespace {

// The CPU's lenient float attribute: an int attribute reads as its value.
float attr_float(const ir::Node& n, const char* name, float def) {
  const ir::Attribute* a = n.attr(name);
  if (!a) return def;
  if (a->type == ir::AttrType::kFloat) return a->f;
  if (a->type == ir::AttrType::kInt) return static_cast<float>(a->i);
  return def;
}

}  // namespace

Expected<PadParams> pad_params(const ir::Node& n, const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const DType dt = in[0].desc.dtype;
  const int64_t r = static_cast<int64_t>(xs.size());
  PadParams p;
  p.mode = "constant";
  if (const ir::Attribute* a = n.attr("mode"); a && a->type == ir::AttrType::kString) p.mode = a->s;
  if (p.mode == "constant") {
    p.mode_code = kPadConstant;
  } else if (p.mode == "reflect") {
    p.mode_code = kPadReflect;
  } else if (p.mode == "edge") {
    p.mode_code = kPadEdge;
  } else if (p.mode == "wrap" && n.opset() >= 19) {
    p.mode_code = kPadWrap;
  } else {
    return invalid_argument("unknown mode '" + p.mode + "'");
  }
  std::vector<int64_t> pads, axes;
  if (n.opset() < 11) {
    if (!n.attr("pads")) return invalid_argument("attribute 'pads' is required");
    KILN_ASSIGN_OR_RETURN(pads, attr_ints(n, "pads"));
    KILN_ASSIGN_OR_RETURN(Tensor c, Tensor::create(dt, {}));
    c.set_from_double(0, attr_float(n, "value", 0.0f));
    std::memcpy(&p.cbits, c.raw_data(), std::min(dtype_size(dt), sizeof(p.cbits)));
  } else {
    KILN_ASSIGN_OR_RETURN(pads, read_int_list(in, 1, "pads"));
    if (in.size() > 2 && in[2].present) {
      if (in[2].desc.dtype != dt || in[2].desc.numel() > 1 || in[2].desc.shape.size() > 1)
        return invalid_argument("constant_value must be a scalar of the data's dtype");
      p.cv_input = in[2].desc.numel() == 1;
    }
  }
  if (n.opset() >= 18 && in.size() > 3 && in[3].present) {
    KILN_ASSIGN_OR_RETURN(auto ax, read_int_list(in, 3, "axes", true));
    KILN_ASSIGN_OR_RETURN(axes, norm_axes(ax, r, "axis"));
  } else {
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  }
  const size_t na = axes.size();
  if (pads.size() != 2 * na)
    return invalid_argument("'pads' has " + std::to_string(pads.size()) + " entries, expected " +
                            std::to_string(2 * na));
  std::vector<int64_t> pb(r, 0), pe(r, 0);
  for (size_t i = 0; i < na; ++i) {
    pb[axes[i]] = pads[i];
    pe[axes[i]] = pads[i + na];
  }
  p.out.resize(r);
  p.lo.resize(r);
  p.cnt.resize(r);
  p.before.resize(r);
  for (int64_t d = 0; d < r; ++d) {
    const int64_t dim = xs[d];
    p.lo[d] = pb[d] < 0 ? -pb[d] : 0;
    const int64_t cut_end = pe[d] < 0 ? -pe[d] : 0;
    if (p.lo[d] > dim || cut_end > dim - p.lo[d] || __builtin_add_overflow(dim, pb[d], &p.out[d]) ||
        __builtin_add_overflow(p.out[d], pe[d], &p.out[d]))
      return invalid_argument("pads " + shape_to_string(pads) + " are invalid for input shape " +
                              shape_to_string(xs));
    p.cnt[d] = dim - p.lo[d] - cut_end;
    p.before[d] = std::max<int64_t>(pb[d], 0);
    if (p.mode_code != kPadConstant && p.cnt[d] == 0 && p.out[d] > 0)
      return invalid_argument("cannot pad an empty axis in mode '" + p.mode + "'");
  }
  return p;
}

}  // namespace kiln::device
