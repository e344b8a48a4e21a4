// Vulkan Pad, Tile (shaders/pad.comp), ArgMax/ArgMin (shaders/argmax.comp) and float32 Range
// (shaders/range.comp). Pad takes every
// mode (constant, reflect, edge, opset-19 wrap), negative pads (crops), the attribute form before
// opset 11 and the pads / constant_value / axes inputs after it; Tile is pad.comp's wrap mode
// without pads. Elements move as raw bits of 1, 2, 4 or 8 bytes. A large output is written in
// windows of at most the binding limit (pad.comp's `start`). Validation follows the CPU
// reference (runtime/cpu/ops/shape_layout.cpp, reduction_arg.cpp).
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#include "runtime/cpu/ops/common.h"
#include "runtime/device/data_params.h"
#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan {

namespace {

using namespace ops;

using device::kPadConstant;
using device::kPadEdge;
using device::kPadReflect;
using device::kPadWrap;
constexpr size_t kMaxPadRank = 5;  // pad.comp

Support movable(const VkContext& ctx, const std::vector<InputInfo>& in, size_t i) {
  if (in.size() <= i || !in[i].present) return Support::no("missing input " + std::to_string(i));
  if (in[i].desc.nbytes() > ctx.max_window_bytes())
    return Support::no("the source is larger than the storage-buffer binding range (" +
                       std::to_string(ctx.max_binding_bytes()) +
                       " bytes): Pad and Tile split only their output");
  const DType dt = in[i].desc.dtype;
  const uint32_t es = shader_elem_size(dt);
  if (es == 0 || dtype_size(dt) != es)
    return Support::no(std::string("no Vulkan pad shader for dtype ") + dtype_name(dt));
  if (es == 1 && !ctx.features().bytes())
    return Support::no("1-byte elements need 8-bit storage and shaderInt8 on the Vulkan device");
  if (es == 2 && !(ctx.features().halves() && ctx.features().int16))
    return Support::no("2-byte elements need 16-bit storage and shaderInt16 on the Vulkan device");
  return Support::yes();
}

// As the CPU's pad_source: the source index of padded position i over a window of n, -1 for the
// constant.
int64_t pad_source(int mode, int64_t i, int64_t n) {
  if (i >= 0 && i < n) return i;
  if (mode == kPadConstant) return -1;
  if (mode == kPadEdge) return i < 0 ? 0 : n - 1;
  if (mode == kPadWrap) return ((i % n) + n) % n;
  if (n == 1) return 0;
  const int64_t p = 2 * (n - 1);
  const int64_t m = ((i % p) + p) % p;
  return m >= n ? p - m : m;
}

// One padded dim: output length, source stride, leading pad, source window length.
struct PadDim {
  int64_t out, stride, before, cnt;
};

// The pad.comp dispatches writing `out` from input 0 (window starting at element src_base):
// dims that always read source index 0 are dropped and neighbours without pads merged; the output
// is written in windows that fit the binding limit.
Expected<std::unique_ptr<DeviceKernel>> pad_kernel(VkContext& ctx, const std::string& name,
                                                   DType dt, const Shape& out,
                                                   std::vector<PadDim> dims, int64_t src_base,
                                                   int mode, bool cv_input, uint64_t cbits) {
  KILN_ASSIGN_OR_RETURN(int64_t total, [&]() -> Expected<int64_t> {
    int64_t n = 1;
    for (int64_t d : out)
      if (d < 0 || __builtin_mul_overflow(n, d, &n) || n >= INT_MAX)
        return unsupported("output " + shape_to_string(out) + " is too large for Vulkan");
    return n;
  }());
  std::vector<VkStep> steps;
  if (total > 0) {
    std::vector<PadDim> m;
    for (const PadDim& d : dims) {
      if (d.out == 1 && pad_source(mode, -d.before, d.cnt) == 0) continue;
      const bool plain = d.before == 0 && d.cnt == d.out;
      if (!m.empty() && plain && m.back().before == 0 && m.back().cnt == m.back().out &&
          m.back().stride == d.stride * d.out) {
        m.back().out *= d.out;
        m.back().cnt *= d.cnt;
        m.back().stride = d.stride;
      } else {
        m.push_back(d);
      }
    }
    if (m.size() > kMaxPadRank)
      return unsupported("rank " + std::to_string(m.size()) +
                         " after merging dims is above the Vulkan pad shader's 5");
    for (const PadDim& d : m)
      if (!fits_u32(d.out) || !fits_u32(d.stride) || !fits_u32(d.before) || !fits_u32(d.cnt))
        return unsupported("pads or strides too large for the Vulkan pad shader");
    if (!fits_u32(src_base)) return unsupported("crops too large for the Vulkan pad shader");
    std::vector<int64_t> od, st, bf, cn;
    for (const PadDim& d : m) {
      od.push_back(d.out);
      st.push_back(d.stride);
      bf.push_back(d.before);
      cn.push_back(d.cnt);
    }
    const uint32_t es = shader_elem_size(dt);
    const int64_t chunk = std::max<int64_t>(static_cast<int64_t>(ctx.max_window_bytes() / es), 1);
    for (int64_t a = 0; a < total; a += chunk) {
      const int64_t cnt = std::min(chunk, total - a);
      Push p;
      p.u(cnt).u(a).u(static_cast<int64_t>(m.size()) | (mode << 4) | (cv_input ? 256 : 0));
      p.u(cbits & 0xffffffffu).u(cbits >> 32).u(src_base);
      p.arr(od, kMaxPadRank).arr(st, kMaxPadRank).arr(bf, kMaxPadRank).arr(cn, kMaxPadRank);
      VkTensorRef y = out_ref(0, es);
      y.win_begin = y.origin = a;
      y.win_count = cnt;
      KILN_ASSIGN_OR_RETURN(VkStep s,
                            make_step(ctx, "pad_" + std::to_string(es),
                                      {in_ref(0, es), in_ref(cv_input ? 2 : 0, es), y}, p, cnt));
      steps.push_back(std::move(s));
    }
  }
  return steps_kernel(ctx, name, {{dt, out}}, std::move(steps));
}

// --- Pad -----------------------------------------------------------------------------------------

Support pad_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  return device::pad_supports(n, in, movable(ctx, in, 0));
}

Expected<std::unique_ptr<DeviceKernel>> pad_prepare(VkContext& ctx, const ir::Node& n,
                                                    const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const DType dt = in[0].desc.dtype;
  const int64_t r = static_cast<int64_t>(xs.size());
  KILN_ASSIGN_OR_RETURN(device::PadParams pp, device::pad_params(n, in));
  const std::vector<int64_t> in_st = cpu::strides_of(xs);
  std::vector<PadDim> dims(r);
  int64_t src_base = 0;
  for (int64_t d = 0; d < r; ++d) {
    dims[d] = {pp.out[d], in_st[d], pp.before[d], pp.cnt[d]};
    if (pp.cnt[d] > 0) src_base += pp.lo[d] * in_st[d];
  }
  return pad_kernel(ctx, "pad_" + pp.mode, dt, pp.out, std::move(dims), src_base, pp.mode_code,
                    pp.cv_input, pp.cbits);
}

// --- Tile ----------------------------------------------------------------------------------------

Support tile_supports(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  if (n.opset() < 6) return Support::no("Tile before opset 6");
  return both(movable(ctx, in, 0), host_input(in, 1, true));
}

Expected<std::unique_ptr<DeviceKernel>> tile_prepare(VkContext& ctx, const ir::Node&,
                                                     const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int64_t r = static_cast<int64_t>(xs.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> reps, read_int_list(in, 1, "repeats"));
  if (static_cast<int64_t>(reps.size()) != r)
    return invalid_argument("'repeats' has " + std::to_string(reps.size()) +
                            " entries for an input of rank " + std::to_string(r));
  const std::vector<int64_t> in_st = cpu::strides_of(xs);
  Shape out(r);
  std::vector<PadDim> dims(r);
  for (int64_t d = 0; d < r; ++d) {
    if (reps[d] < 0)
      return invalid_argument("'repeats' " + shape_to_string(reps) + " has a negative entry");
    if (__builtin_mul_overflow(xs[d], reps[d], &out[d]))
      return invalid_argument("tiled dimension " + std::to_string(d) + " overflows");
    dims[d] = {out[d], in_st[d], 0, xs[d]};
  }
  return pad_kernel(ctx, "tile", in[0].desc.dtype, out, std::move(dims), 0, kPadWrap, false, 0);
}

// --- ArgMax / ArgMin -----------------------------------------------------------------------------

Support arg_supports(const VkContext&, const ir::Node&, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return Support::no("missing input 0");
  if (in[0].desc.dtype != DType::kFloat32)
    return Support::no(std::string("the Vulkan ArgMax/ArgMin shader takes float32, not ") +
                       dtype_name(in[0].desc.dtype));
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> arg_prepare(VkContext& ctx, const ir::Node& n,
                                                    const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int64_t rank = static_cast<int64_t>(xs.size());
  if (rank == 0) return invalid_argument("input must have rank >= 1");
  int64_t axis = attr_i(n, "axis", 0);
  if (axis < (n.opset() >= 11 ? -rank : 0) || axis >= rank)
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(rank));
  if (axis < 0) axis += rank;
  const bool keepdims = attr_i(n, "keepdims", 1) != 0;
  const bool last = n.opset() >= 12 && attr_i(n, "select_last_index", 0) != 0;
  const bool is_max = n.op_type() == "ArgMax";
  int64_t outer = 1, len = xs[axis], inner = 1;
  Shape out;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) outer *= xs[d];
    if (d > axis) inner *= xs[d];
    if (d != axis)
      out.push_back(xs[d]);
    else if (keepdims)
      out.push_back(1);
  }
  const int64_t total = outer * inner;
  if (len == 0 && total > 0)
    return invalid_argument(std::string("cannot take the arg") + (is_max ? "max" : "min") +
                            " of an empty axis (shape " + shape_to_string(xs) + ")");
  if (!fits_u32(in[0].desc.numel()) || !fits_u32(total))
    return unsupported("input too large for the Vulkan ArgMax/ArgMin shader");
  std::vector<VkStep> steps;
  if (total > 0) {
    Push p;
    p.u(total).u(len).u(inner).u((is_max ? 1 : 0) | (last ? 2 : 0));
    KILN_ASSIGN_OR_RETURN(VkStep s,
                          make_step(ctx, "argmax_f32", {in_ref(0, 4), out_ref(0, 8)}, p, total));
    steps.push_back(std::move(s));
  }
  return steps_kernel(ctx, is_max ? "argmax" : "argmin", {{DType::kInt64, out}}, std::move(steps));
}

// --- Range (float32; integer ranges are shape arithmetic the executor keeps on the CPU) --------

Support range_supports(const VkContext&, const ir::Node&, const std::vector<InputInfo>& in) {
  for (size_t i = 0; i < 3; ++i) {
    Support s = host_input(in, i, true);
    if (!s.ok) return s;
    if (in[i].desc.dtype != DType::kFloat32)
      return Support::no(std::string("the Vulkan Range shader takes float32, not ") +
                         dtype_name(in[i].desc.dtype));
  }
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> range_prepare(VkContext& ctx, const ir::Node&,
                                                      const std::vector<InputInfo>& in) {
  float v[3];
  for (size_t i = 0; i < 3; ++i) {
    const Tensor* t = in[i].host_value;
    if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1 || t->rank() > 1)
      return invalid_argument("input " + std::to_string(i) + " must be a float32 scalar");
    v[i] = t->data<float>()[0];
  }
  const double s = v[0], l = v[1], d = v[2];
  if (d == 0) return invalid_argument("delta is 0");
  const double q = std::ceil((l - s) / d);
  if (!std::isfinite(q) || q > 9.0e18)
    return invalid_argument("the range from " + std::to_string(s) + " to " + std::to_string(l) +
                            " by " + std::to_string(d) + " has no finite element count");
  const int64_t n = q > 0 ? static_cast<int64_t>(q) : 0;
  // float(i) is exact below 2^24.
  if (n >= (int64_t{1} << 24)) return unsupported("a Range of 2^24 or more elements");
  std::vector<VkStep> steps;
  if (n > 0) {
    Push p;
    p.u(n).f(v[0]).f(v[2]);
    KILN_ASSIGN_OR_RETURN(VkStep st, make_step(ctx, "range_f32", {out_ref(0, 4)}, p, n));
    steps.push_back(std::move(st));
  }
  return steps_kernel(ctx, "range", {{DType::kFloat32, {n}}}, std::move(steps));
}

}  // namespace

void register_vk_data_extra(VkOpRegistry& r) {
  r.add("Range", {{0, 1, 2}, range_supports, range_prepare});
  r.add("Pad", {{1, 3}, pad_supports, pad_prepare, true});
  r.add("Tile", {{1}, tile_supports, tile_prepare, true});
  r.add("ArgMax", {{}, arg_supports, arg_prepare});
  r.add("ArgMin", {{}, arg_supports, arg_prepare});
}

}  // namespace kiln::vulkan
