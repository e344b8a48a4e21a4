#include "runtime/opencl/opencl_backend.h"

#include <spdlog/spdlog.h>

#include <climits>

namespace kiln::opencl {

std::vector<std::string> ClOpRegistry::ops() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : ops_) out.push_back(k);
  return out;
}

const ClOpRegistry& cl_registry() {
  static const ClOpRegistry reg = [] {
    ClOpRegistry r;
    register_cl_elementwise(r);
    register_cl_matmul(r);
    register_cl_reduce(r);
    register_cl_data(r);
    register_cl_nn(r);
    register_cl_contrib(r);
    register_cl_quant(r);
    return r;
  }();
  return reg;
}

namespace {

std::string op_key(const ir::Node& n) {
  return n.domain().empty() ? n.op_type() : n.domain() + "." + n.op_type();
}

}  // namespace

Expected<std::unique_ptr<OpenClBackend>> OpenClBackend::create(const std::string& spec) {
  std::unique_ptr<OpenClBackend> b(new OpenClBackend());
  KILN_ASSIGN_OR_RETURN(b->ctx_, ClContext::create(spec));
  return b;
}

std::vector<int> OpenClBackend::host_inputs(const ir::Node& node) const {
  const ClOpDef* d = cl_registry().find(op_key(node));
  return d ? d->host_inputs : std::vector<int>{};
}

Support OpenClBackend::supports(const ir::Node& node, const std::vector<InputInfo>& inputs) const {
  const ClOpDef* d = cl_registry().find(op_key(node));
  if (!d) return Support::no("no OpenCL kernel for " + op_key(node));
  for (const auto& in : inputs)
    if (in.present && in.desc.numel() >= INT_MAX)
      return Support::no("tensors of 2^31 or more elements are not supported on OpenCL");
  return d->supports ? d->supports(node, inputs) : Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> OpenClBackend::prepare(
    const ir::Node& node, const std::vector<InputInfo>& inputs) {
  const ClOpDef* d = cl_registry().find(op_key(node));
  if (!d) return unsupported("no OpenCL kernel for " + op_key(node));
  auto k = d->prepare(*ctx_, node, inputs);
  if (!k) return k.status().with_context(node.describe());
  return k;
}

Expected<std::shared_ptr<device::DeviceBuffer>> OpenClBackend::allocate(size_t bytes) {
  bytes = std::max<size_t>(bytes, 4);
  if (bytes > ctx_->info().max_alloc_bytes && ctx_->info().max_alloc_bytes > 0)
    return out_of_memory("an OpenCL buffer of " + std::to_string(bytes) +
                         " bytes exceeds the device's largest allocation (" +
                         std::to_string(ctx_->info().max_alloc_bytes) + " bytes)");
  cl_int err = CL_SUCCESS;
  cl::Buffer buf(ctx_->context(), CL_MEM_READ_WRITE, bytes, nullptr, &err);
  if (err != CL_SUCCESS)
    return out_of_memory("allocating " + std::to_string(bytes) +
                         " bytes on the OpenCL device failed: " + cl_error_name(err));
  return std::shared_ptr<device::DeviceBuffer>(std::make_shared<ClBuffer>(std::move(buf), bytes));
}

Status OpenClBackend::upload(const Tensor& src, const DeviceTensor& dst) {
  cl_int err = ctx_->queue().enqueueWriteBuffer(cl_buffer(dst), CL_TRUE, dst.offset, src.nbytes(),
                                                src.raw_data());
  if (err != CL_SUCCESS) return runtime_error("OpenCL upload failed: " + cl_error_name(err));
  return Status::ok();
}

Status OpenClBackend::download(const DeviceTensor& src, Tensor* dst) {
  cl_int err = ctx_->queue().enqueueReadBuffer(cl_buffer(src), CL_TRUE, src.offset, dst->nbytes(),
                                               dst->raw_data());
  if (err != CL_SUCCESS)
    return runtime_error("OpenCL download failed (a kernel before it may have failed): " +
                         cl_error_name(err));
  return Status::ok();
}

Status OpenClBackend::finish() {
  cl_int err = ctx_->queue().finish();
  if (err != CL_SUCCESS) return runtime_error("OpenCL queue failed: " + cl_error_name(err));
  return Status::ok();
}

Status ClLaunchKernel::enqueue(const std::vector<DeviceTensor>& inputs,
                               const std::vector<DeviceTensor>& outputs) {
  KILN_RETURN_IF_ERROR(setup_error_);
  cl_uint arg = 0;
  auto set_tensor = [&](const DeviceTensor& t) -> Status {
    size_t es = std::max<size_t>(dtype_size(t.desc.dtype), 1);
    cl_int e1 = kernel_.setArg(arg++, cl_buffer(t));
    cl_int e2 = kernel_.setArg(arg++, static_cast<cl_int>(t.offset / es));
    if (e1 != CL_SUCCESS || e2 != CL_SUCCESS)
      return internal_error(
          name_ + ": setting buffer argument failed: " + cl_error_name(e1 != CL_SUCCESS ? e1 : e2));
    return Status::ok();
  };
  for (int i : buffer_inputs_) {
    if (i >= static_cast<int>(inputs.size()) || !inputs[i].buffer)
      return internal_error(name_ + ": input " + std::to_string(i) + " is not on the device");
    KILN_RETURN_IF_ERROR(set_tensor(inputs[i]));
  }
  for (size_t o = 0; o < num_outputs_; ++o) KILN_RETURN_IF_ERROR(set_tensor(outputs[o]));
  cl_int err = ctx_.queue().enqueueNDRangeKernel(kernel_, cl::NullRange, global_, local_);
  if (err != CL_SUCCESS) {
    if (err == CL_OUT_OF_RESOURCES || err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
        err == CL_OUT_OF_HOST_MEMORY)
      return out_of_memory(name_ +
                           ": the OpenCL device ran out of resources: " + cl_error_name(err));
    return runtime_error(name_ + ": enqueueing the kernel failed: " + cl_error_name(err));
  }
  return Status::ok();
}

}  // namespace kiln::opencl
