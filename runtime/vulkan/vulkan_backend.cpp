// VulkanBackend: the op registry, buffers and transfers, and VkStepsKernel's enqueue.
#include "runtime/vulkan/vulkan_backend.h"

#include <spdlog/spdlog.h>

#include <climits>

namespace kiln::vulkan {

std::vector<std::string> VkOpRegistry::ops() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : ops_) out.push_back(k);
  return out;
}

const VkOpRegistry& vk_registry() {
  static const VkOpRegistry reg = [] {
    VkOpRegistry r;
    register_vk_elementwise(r);
    register_vk_matmul(r);
    register_vk_reduce(r);
    register_vk_data(r);
    register_vk_nn(r);
    register_vk_contrib(r);
    register_vk_quant(r);
    return r;
  }();
  return reg;
}

uint32_t shader_elem_size(DType d) {
  switch (d) {
    case DType::kFloat32:
    case DType::kInt32:
    case DType::kUInt32:
      return 4;
    case DType::kInt64:
    case DType::kUInt64:
    case DType::kFloat64:
      return 8;
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kInt16:
    case DType::kUInt16:
      return 2;
    case DType::kBool:
    case DType::kUInt8:
    case DType::kInt8:
      return 1;
    default:
      return 0;
  }
}

namespace {

std::string op_key(const ir::Node& n) {
  return n.domain().empty() ? n.op_type() : n.domain() + "." + n.op_type();
}

}  // namespace

Expected<std::unique_ptr<VulkanBackend>> VulkanBackend::create(const std::string& spec) {
  std::unique_ptr<VulkanBackend> b(new VulkanBackend());
  KILN_ASSIGN_OR_RETURN(b->ctx_, VkContext::create(spec));
  return b;
}

std::vector<int> VulkanBackend::host_inputs(const ir::Node& node) const {
  const VkOpDef* d = vk_registry().find(op_key(node));
  return d ? d->host_inputs : std::vector<int>{};
}

Support VulkanBackend::supports(const ir::Node& node, const std::vector<InputInfo>& inputs) const {
  const VkOpDef* d = vk_registry().find(op_key(node));
  if (!d) return Support::no("no Vulkan kernel for " + op_key(node));
  const std::vector<int> host = d->host_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& in = inputs[i];
    if (!in.present || std::find(host.begin(), host.end(), static_cast<int>(i)) != host.end())
      continue;
    if (in.desc.numel() >= INT_MAX)
      return Support::no("tensors of 2^31 or more elements are not supported on Vulkan");
    // A binding covers at most maxStorageBufferRange bytes (plus the offset alignment).
    if (in.desc.nbytes() + 256 > ctx_->max_binding_bytes())
      return Support::no("input " + std::to_string(i) + " (" + std::to_string(in.desc.nbytes()) +
                         " bytes) is larger than the device's storage-buffer binding range (" +
                         std::to_string(ctx_->max_binding_bytes()) +
                         " bytes); splitting is not implemented");
  }
  return d->supports ? d->supports(*ctx_, node, inputs) : Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> VulkanBackend::prepare(
    const ir::Node& node, const std::vector<InputInfo>& inputs) {
  const VkOpDef* d = vk_registry().find(op_key(node));
  if (!d) return unsupported("no Vulkan kernel for " + op_key(node));
  auto k = d->prepare(*ctx_, node, inputs);
  if (!k) return k.status().with_context(node.describe());
  for (size_t o = 0; o < (*k)->output_descs().size(); ++o) {
    const TensorDesc& od = (*k)->output_descs()[o];
    if (od.numel() >= INT_MAX || od.nbytes() + 256 > ctx_->max_binding_bytes())
      return unsupported(node.describe() + ": output " + std::to_string(o) + " (" +
                         desc_to_string(od) +
                         ") is larger than the device's storage-buffer binding range");
  }
  return k;
}

Expected<std::shared_ptr<device::DeviceBuffer>> VulkanBackend::allocate(size_t bytes) {
  return ctx_->allocate(bytes);
}

Status VulkanBackend::upload(const Tensor& src, const DeviceTensor& dst) {
  return ctx_->write(dst, src.raw_data(), src.nbytes());
}

Status VulkanBackend::download(const DeviceTensor& src, Tensor* dst) {
  return ctx_->read(src, dst->raw_data(), dst->nbytes());
}

Status VulkanBackend::finish() {
  return ctx_->flush();
}

Status VkStepsKernel::enqueue(const std::vector<DeviceTensor>& inputs,
                              const std::vector<DeviceTensor>& outputs) {
  for (const VkStep& s : steps_) {
    VkDispatch d;
    d.push = s.push;
    for (int g = 0; g < 3; ++g) d.groups[g] = s.groups[g];
    bool vec4_ok = s.pipe_vec4 != nullptr;
    for (size_t k = 0; k < s.refs.size(); ++k) {
      const VkTensorRef& r = s.refs[k];
      const auto& v = r.output ? outputs : inputs;
      if (r.index < 0 || r.index >= static_cast<int>(v.size()) || !v[r.index].buffer)
        return internal_error(name_ + ": " + (r.output ? "output " : "input ") +
                              std::to_string(r.index) + " is not on the device");
      uint32_t elem_off = 0;
      KILN_ASSIGN_OR_RETURN(VkBinding b, ctx_.bind(v[r.index], r.elem_size, r.output, &elem_off));
      d.push[k] = elem_off;
      if (std::find(s.vec4_refs.begin(), s.vec4_refs.end(), static_cast<int>(k)) !=
              s.vec4_refs.end() &&
          elem_off % 4 != 0)
        vec4_ok = false;
      d.bindings.push_back(std::move(b));
    }
    d.pipe = vec4_ok ? s.pipe_vec4 : s.pipe;
    if (vec4_ok)
      for (int g = 0; g < 3; ++g) d.groups[g] = s.groups_vec4[g];
    ctx_.enqueue(std::move(d));
  }
  return Status::ok();
}

}  // namespace kiln::vulkan
