// Helpers shared by the OpenCL data-movement op files (ops_data.cpp: views and registration;
// ops_data_copy.cpp: strided copies; ops_data_pad_gather.cpp: Pad and Gather): argument checks
// that mirror the CPU reference's shape validation, 32-bit size limits and kernel launch helpers.
#pragma once

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "runtime/device/data_params.h"
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

// Families registered by register_cl_data (ops_data.cpp).
void register_cl_data_copy(ClOpRegistry& r);        // Transpose, Expand, Slice, Tile, Concat, Split
void register_cl_data_pad_gather(ClOpRegistry& r);  // Pad, Gather

namespace data_detail {

inline cl_int8 to_int8(const std::vector<int64_t>& v) {
  cl_int8 r{};
  for (size_t i = 0; i < v.size() && i < 8; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

inline bool fits_int(int64_t v) {
  return v >= INT_MIN && v < INT_MAX;
}
inline bool all_fit_int(const std::vector<int64_t>& v) {
  return std::all_of(v.begin(), v.end(), fits_int);
}

// Kernel-name suffix for an element size, or nullptr when no kernel moves that size.
inline const char* size_suffix(size_t es) {
  switch (es) {
    case 1:
      return "1";
    case 2:
      return "2";
    case 4:
      return "4";
    case 8:
      return "8";
    default:
      return nullptr;
  }
}

// The data input must be present and of an element size the copy kernels move.
inline Support movable(const std::vector<InputInfo>& in, size_t i, int max_rank = 8) {
  if (in.size() <= i || !in[i].present) return Support::no("missing input " + std::to_string(i));
  const DType dt = in[i].desc.dtype;
  if (!is_storable(dt) || !size_suffix(dtype_size(dt)))
    return Support::no(std::string("no OpenCL data kernel for dtype ") + dtype_name(dt));
  if (static_cast<int>(in[i].desc.shape.size()) > max_rank)
    return Support::no("rank above " + std::to_string(max_rank));
  return Support::yes();
}

inline int64_t attr_int(const ir::Node& n, const char* name, int64_t def) {
  const ir::Attribute* a = n.attr(name);
  return a && a->type == ir::AttrType::kInt ? a->i : def;
}

inline bool has_attr(const ir::Node& n, const char* name) {
  return n.attr(name) != nullptr;
}

// Host int lists, axes and host-input checks as the CPU's shape ops read them.
using device::args::attr_ints;
using device::args::both;
using device::args::host_input;
using device::args::norm_axes;
using device::args::norm_axis;
using device::args::read_int_list;

// Product of dims, failing on overflow or when too large for the kernels' 32-bit indexing.
inline Expected<int64_t> device_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return invalid_argument("negative dimension in " + shape_to_string(s));
    if (__builtin_mul_overflow(n, d, &n) || n >= INT_MAX)
      return unsupported("a tensor of shape " + shape_to_string(s) +
                         " is too large for the OpenCL data kernels");
  }
  return n;
}

inline Status enqueue_range(ClContext& ctx, cl::Kernel& k, int64_t n, const std::string& name) {
  cl_int err = ctx.queue().enqueueNDRangeKernel(
      k, cl::NullRange, cl::NDRange(round_up(static_cast<size_t>(n), 64)), cl::NDRange(64));
  if (err == CL_SUCCESS) return Status::ok();
  if (err == CL_OUT_OF_RESOURCES || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
      err == CL_OUT_OF_HOST_MEMORY)
    return out_of_memory(name + ": the OpenCL device ran out of resources: " + cl_error_name(err));
  return runtime_error(name + ": enqueueing the kernel failed: " + cl_error_name(err));
}

// Sets (buffer, element offset) at args `arg`, `arg + 1`.
inline Status set_tensor_arg(cl::Kernel& k, cl_uint arg, const DeviceTensor& t,
                             const std::string& name) {
  if (!t.buffer) return internal_error(name + ": a tensor is not on the device");
  size_t es = std::max<size_t>(dtype_size(t.desc.dtype), 1);
  cl_int e1 = k.setArg(arg, cl_buffer(t));
  cl_int e2 = k.setArg(arg + 1, static_cast<cl_int>(t.offset / es));
  if (e1 != CL_SUCCESS || e2 != CL_SUCCESS)
    return internal_error(
        name + ": setting a buffer argument failed: " + cl_error_name(e1 != CL_SUCCESS ? e1 : e2));
  return Status::ok();
}

// Collects the first failing setArg.
class ArgSetter {
 public:
  ArgSetter(cl::Kernel& k, cl_uint first) : k_(k), next_(first) {}
  template <typename T>
  ArgSetter& operator()(const T& v) {
    cl_int err = k_.setArg(next_++, v);
    if (err != CL_SUCCESS && status_.is_ok())
      status_ =
          internal_error("setArg(" + std::to_string(next_ - 1) + ") failed: " + cl_error_name(err));
    return *this;
  }
  const Status& status() const { return status_; }

 private:
  cl::Kernel& k_;
  cl_uint next_;
  Status status_;
};

}  // namespace data_detail
}  // namespace kiln::opencl
