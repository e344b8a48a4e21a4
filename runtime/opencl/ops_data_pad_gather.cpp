// OpenCL Pad and Gather (kernels/data.cl), elements moved as raw bits of 1, 2, 4 or 8 bytes.
// Validation follows the CPU reference kernels (runtime/cpu/ops/shape*.cpp).
#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>

#include "runtime/cpu/ops/common.h"
#include "runtime/opencl/ops_data_internal.h"

namespace kiln::opencl {

namespace {

using namespace data_detail;  // NOLINT(build/namespaces): helpers shared by the data op files

// --- Pad -----------------------------------------------------------------------------------------

class PadKernel : public DeviceKernel {
 public:
  PadKernel(ClContext& ctx, cl::Kernel k, const TensorDesc& out, bool cv_input)
      : ctx_(ctx), kernel_(std::move(k)), cv_input_(cv_input) {
    outputs_ = {out};
  }
  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    const int64_t n = outputs_[0].numel();
    if (n == 0) return Status::ok();
    if (inputs.empty() || outputs.empty()) return internal_error("pad: missing a device tensor");
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 0, inputs[0], "pad"));
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 2, cv_input_ ? inputs.at(2) : inputs[0], "pad"));
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 4, outputs[0], "pad"));
    return enqueue_range(ctx_, kernel_, n, "pad");
  }
  std::string name() const override { return "pad"; }

 private:
  ClContext& ctx_;
  cl::Kernel kernel_;
  bool cv_input_;
};

Support pad_supports(const ir::Node& n, const std::vector<InputInfo>& in) {
  return device::pad_supports(n, in, movable(in, 0));
}

Expected<std::unique_ptr<DeviceKernel>> pad_prepare(ClContext& ctx, const ir::Node& n,
                                                    const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const DType dt = in[0].desc.dtype;
  const int64_t r = static_cast<int64_t>(xs.size());
  const size_t es = dtype_size(dt);
  KILN_ASSIGN_OR_RETURN(device::PadParams pp, device::pad_params(n, in));
  if (r > 8) return unsupported("rank above 8");
  KILN_ASSIGN_OR_RETURN(int64_t total, device_numel(pp.out));
  if (!all_fit_int(pp.before) || !all_fit_int(pp.lo))
    return unsupported("pads too large for the OpenCL data kernels");
  const char* suf = size_suffix(es);
  if (!suf) return unsupported(std::string("no OpenCL data kernel for dtype ") + dtype_name(dt));
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("data", "", std::string("pad_") + suf));
  ArgSetter set(k, 6);
  set(static_cast<cl_int>(total))(static_cast<cl_int>(r))(to_int8(pp.out))(to_int8(cpu::strides_of(
      xs)))(to_int8(pp.before))(to_int8(pp.lo))(to_int8(pp.cnt))(static_cast<cl_int>(pp.mode_code))(
      static_cast<cl_int>(pp.cv_input ? 1 : 0))(static_cast<cl_ulong>(pp.cbits));
  KILN_RETURN_IF_ERROR(set.status());
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<PadKernel>(ctx, std::move(k), TensorDesc{dt, pp.out}, pp.cv_input));
}

// --- Gather --------------------------------------------------------------------------------------

// Indices stay on the device. The kernel records the first out-of-range index position in a
// small device buffer; enqueue reads it back (a blocking read, the price of never returning a
// silently wrong answer) and fails like the CPU kernel does.
class GatherKernel : public DeviceKernel {
 public:
  GatherKernel(ClContext& ctx, cl::Kernel k, cl::Buffer err, const TensorDesc& out, int64_t nidx,
               int64_t dim, int64_t axis, Shape data_shape)
      : ctx_(ctx),
        kernel_(std::move(k)),
        err_(std::move(err)),
        nidx_(nidx),
        dim_(dim),
        axis_(axis),
        data_shape_(std::move(data_shape)) {
    outputs_ = {out};
  }
  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override {
    const int64_t n = std::max<int64_t>(outputs_[0].numel(), nidx_);
    if (n == 0) return Status::ok();
    if (inputs.size() < 2 || outputs.empty())
      return internal_error("gather: missing a device tensor");
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 0, inputs[0], "gather"));
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 2, inputs[1], "gather"));
    KILN_RETURN_IF_ERROR(set_tensor_arg(kernel_, 4, outputs[0], "gather"));
    cl::CommandQueue& q = ctx_.queue();
    cl_int err = q.enqueueWriteBuffer(err_, CL_FALSE, 0, sizeof(cl_int), &init_);
    if (err != CL_SUCCESS)
      return runtime_error("gather: resetting the error flag failed: " + cl_error_name(err));
    KILN_RETURN_IF_ERROR(enqueue_range(ctx_, kernel_, n, "gather"));
    err = q.enqueueReadBuffer(err_, CL_TRUE, 0, sizeof(cl_int), &bad_);
    if (err != CL_SUCCESS)
      return runtime_error("gather: reading the error flag failed: " + cl_error_name(err));
    if (bad_ == INT_MAX) return Status::ok();
    // Fetch the offending index for the message.
    const DeviceTensor& ind = inputs[1];
    const size_t isz = dtype_size(ind.desc.dtype);
    int64_t value = 0;
    if (isz == 8 || isz == 4) {
      unsigned char raw[8] = {};
      err = q.enqueueReadBuffer(cl_buffer(ind), CL_TRUE,
                                ind.offset + static_cast<size_t>(bad_) * isz, isz, raw);
      if (err == CL_SUCCESS) {
        if (isz == 8) {
          std::memcpy(&value, raw, 8);
        } else {
          int32_t v32;
          std::memcpy(&v32, raw, 4);
          value = v32;
        }
      }
    }
    return runtime_error("index " + std::to_string(value) + " (indices element " +
                         std::to_string(bad_) + ") is out of range [" + std::to_string(-dim_) +
                         ", " + std::to_string(dim_ - 1) + "] for axis " + std::to_string(axis_) +
                         " of data shape " + shape_to_string(data_shape_));
  }
  std::string name() const override { return "gather"; }

 private:
  ClContext& ctx_;
  cl::Kernel kernel_;
  cl::Buffer err_;
  int64_t nidx_, dim_, axis_;
  Shape data_shape_;
  cl_int init_ = INT_MAX;
  cl_int bad_ = INT_MAX;
};

Support gather_supports(const ir::Node&, const std::vector<InputInfo>& in) {
  Support s = movable(in, 0, INT_MAX);
  if (!s.ok) return s;
  if (in.size() < 2 || !in[1].present) return Support::no("missing indices");
  if (in[1].desc.dtype != DType::kInt64 && in[1].desc.dtype != DType::kInt32)
    return Support::no("indices must be int32 or int64");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> gather_prepare(ClContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  const Shape& xs = in[0].desc.shape;
  const Shape& is = in[1].desc.shape;
  const DType dt = in[0].desc.dtype;
  if (xs.empty()) return invalid_argument("data must have rank >= 1");
  const int64_t r = static_cast<int64_t>(xs.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis, norm_axis(attr_int(n, "axis", 0), r, "axis"));
  Shape out(xs.begin(), xs.begin() + axis);
  out.insert(out.end(), is.begin(), is.end());
  out.insert(out.end(), xs.begin() + axis + 1, xs.end());
  KILN_ASSIGN_OR_RETURN(int64_t total, device_numel(out));
  KILN_ASSIGN_OR_RETURN(int64_t nidx, device_numel(is));
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < r; ++d) inner *= xs[d];
  const int64_t dim = xs[axis];
  if (!fits_int(dim) || !fits_int(inner)) return unsupported("data too large");
  const char* suf = size_suffix(dtype_size(dt));
  if (!suf) return unsupported(std::string("no OpenCL data kernel for dtype ") + dtype_name(dt));
  const std::string kname =
      std::string("gather_") + suf + (in[1].desc.dtype == DType::kInt64 ? "_i64" : "_i32");
  KILN_ASSIGN_OR_RETURN(cl::Kernel k, ctx.kernel("data", "", kname));
  cl_int err = CL_SUCCESS;
  cl::Buffer flag(ctx.context(), CL_MEM_READ_WRITE, sizeof(cl_int), nullptr, &err);
  if (err != CL_SUCCESS)
    return out_of_memory("gather: allocating the error flag failed: " + cl_error_name(err));
  ArgSetter set(k, 6);
  set(flag)(static_cast<cl_int>(total))(static_cast<cl_int>(nidx))(static_cast<cl_int>(dim))(
      static_cast<cl_int>(inner));
  KILN_RETURN_IF_ERROR(set.status());
  return std::unique_ptr<DeviceKernel>(std::make_unique<GatherKernel>(
      ctx, std::move(k), std::move(flag), TensorDesc{dt, out}, nidx, dim, axis, xs));
}

}  // namespace

void register_cl_data_pad_gather(ClOpRegistry& r) {
  r.add("Pad", {{1, 3}, pad_supports, pad_prepare});
  r.add("Gather", {{}, gather_supports, gather_prepare});
}

}  // namespace kiln::opencl
