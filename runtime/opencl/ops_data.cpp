// OpenCL data-movement ops (kernels/data.cl). Reshape, Flatten, Squeeze and Unsqueeze are views
// (the output aliases the input: no work), registered here with the other data families:
// strided copies (ops_data_copy.cpp) and Pad / Gather (ops_data_pad_gather.cpp). Elements move
// as raw bits, so every dtype of 1, 2, 4 or 8 bytes is covered. Shape arithmetic and validation
// follow the CPU reference kernels (runtime/cpu/ops/shape*.cpp) exactly; a node they would reject
// fails prepare() and so runs on the CPU, which reports the error.
#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>

#include "runtime/cpu/ops/common.h"
#include "runtime/opencl/ops_data_internal.h"

namespace kiln::opencl {

namespace {

using namespace data_detail;  // NOLINT(build/namespaces): helpers shared by the data op files

// --- views ---------------------------------------------------------------------------------------

// Output 0 is input 0's bytes seen with another shape.
class ViewKernel : public DeviceKernel {
 public:
  explicit ViewKernel(const TensorDesc& d) {
    outputs_ = {d};
    aliases_ = {0};
  }
  Status enqueue(const std::vector<DeviceTensor>&, const std::vector<DeviceTensor>&) override {
    return Status::ok();
  }
  std::string name() const override { return "view"; }
};

Expected<std::unique_ptr<DeviceKernel>> make_view(const InputInfo& x, const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return invalid_argument("invalid view shape " + shape_to_string(shape));
  if (n != x.desc.numel())
    return invalid_argument("cannot view a tensor of shape " + shape_to_string(x.desc.shape) +
                            " as " + shape_to_string(shape));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<ViewKernel>(TensorDesc{x.desc.dtype, shape}));
}

Support view_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return Support::no("missing input 0");
  if (!is_storable(in[0].desc.dtype) || dtype_size(in[0].desc.dtype) == 0)
    return Support::no(std::string("dtype ") + dtype_name(in[0].desc.dtype));
  const std::string& op = n.op_type();
  if (op == "Reshape") {
    if (n.opset() < 5) return Support::no("Reshape before opset 5 has no CPU reference");
    return host_input(in, 1, true);
  }
  if (op == "Squeeze" && n.opset() >= 13) return host_input(in, 1, false);
  if (op == "Unsqueeze" && n.opset() >= 13) return host_input(in, 1, true);
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> reshape_prepare(ClContext&, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int64_t numel = in[0].desc.numel();
  const int64_t rank = static_cast<int64_t>(xs.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> req, read_int_list(in, 1, "shape"));
  const bool allowzero = n.opset() >= 14 && attr_int(n, "allowzero", 0) != 0;
  Shape out(req.size());
  int infer = -1;
  bool has_zero = false;
  for (size_t i = 0; i < req.size(); ++i) {
    int64_t d = req[i];
    if (d == -1) {
      if (infer >= 0) return invalid_argument("more than one -1 in the shape");
      infer = static_cast<int>(i);
      out[i] = 1;
    } else if (d < -1) {
      return invalid_argument("invalid dimension " + std::to_string(d));
    } else if (d == 0 && !allowzero) {
      if (static_cast<int64_t>(i) >= rank)
        return invalid_argument("dimension " + std::to_string(i) +
                                " is 0 (copy the input dim) but the input has rank " +
                                std::to_string(rank));
      out[i] = xs[i];
    } else {
      has_zero |= d == 0;
      out[i] = d;
    }
  }
  if (allowzero && has_zero && infer >= 0)
    return invalid_argument("allowzero=1 forbids a 0 together with -1");
  int64_t known = 1;
  for (int64_t d : out)
    if (__builtin_mul_overflow(known, d, &known))
      return invalid_argument("the requested shape overflows");
  if (infer >= 0) {
    if (known == 0 || numel % known != 0) return invalid_argument("cannot infer the -1 dimension");
    out[infer] = numel / known;
  }
  return make_view(in[0], out);
}

Expected<std::unique_ptr<DeviceKernel>> flatten_prepare(ClContext&, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int64_t r = static_cast<int64_t>(xs.size());
  int64_t axis = attr_int(n, "axis", 1);
  if (axis < -r || axis > r)
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(r));
  if (axis < 0) axis += r;
  int64_t a = 1, b = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? a : b) *= xs[i];
  return make_view(in[0], {a, b});
}

Expected<std::unique_ptr<DeviceKernel>> squeeze_prepare(ClContext&, const ir::Node& n,
                                                        const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const int64_t r = static_cast<int64_t>(xs.size());
  std::vector<int64_t> axes;
  bool given = false;
  if (n.opset() >= 13) {
    if (in.size() > 1 && in[1].present) {
      KILN_ASSIGN_OR_RETURN(axes, read_int_list(in, 1, "axes"));
      given = true;
    }
  } else if (has_attr(n, "axes")) {
    KILN_ASSIGN_OR_RETURN(axes, attr_ints(n, "axes"));
    given = true;
  }
  std::vector<bool> drop(r, false);
  if (given) {
    KILN_ASSIGN_OR_RETURN(auto na, norm_axes(axes, r, "axis"));
    for (int64_t a : na) {
      if (xs[a] != 1)
        return invalid_argument("cannot squeeze axis " + std::to_string(a) + " of size " +
                                std::to_string(xs[a]));
      drop[a] = true;
    }
  } else {
    for (int64_t i = 0; i < r; ++i) drop[i] = xs[i] == 1;
  }
  Shape out;
  for (int64_t i = 0; i < r; ++i)
    if (!drop[i]) out.push_back(xs[i]);
  return make_view(in[0], out);
}

Expected<std::unique_ptr<DeviceKernel>> unsqueeze_prepare(ClContext&, const ir::Node& n,
                                                          const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  std::vector<int64_t> axes;
  if (n.opset() >= 13) {
    KILN_ASSIGN_OR_RETURN(axes, read_int_list(in, 1, "axes"));
  } else {
    if (!has_attr(n, "axes")) return invalid_argument("attribute 'axes' is required");
    KILN_ASSIGN_OR_RETURN(axes, attr_ints(n, "axes"));
  }
  const int64_t out_rank = static_cast<int64_t>(xs.size() + axes.size());
  KILN_ASSIGN_OR_RETURN(auto na, norm_axes(axes, out_rank, "axis"));
  std::vector<bool> ins(out_rank, false);
  for (int64_t a : na) ins[a] = true;
  Shape out;
  size_t k = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(ins[i] ? 1 : xs[k++]);
  return make_view(in[0], out);
}

}  // namespace

void register_cl_data(ClOpRegistry& r) {
  r.add("Reshape", {{1}, view_supports, reshape_prepare});
  r.add("Flatten", {{}, view_supports, flatten_prepare});
  r.add("Squeeze", {{1}, view_supports, squeeze_prepare});
  r.add("Unsqueeze", {{1}, view_supports, unsqueeze_prepare});
  register_cl_data_copy(r);
  register_cl_data_pad_gather(r);
}

}  // namespace kiln::opencl
