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
    register_vk_qconv(r);
    register_vk_fused(r);
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

// A MatMul whose weight (input 1) is above the binding limit goes to the split MatMul.
bool split_matmul(const VkContext& ctx, const ir::Node& n, const std::vector<InputInfo>& in) {
  return n.domain().empty() && n.op_type() == "MatMul" && in.size() >= 2 && in[1].present &&
         in[1].desc.nbytes() > ctx.max_window_bytes();
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
  if (split_matmul(*ctx_, node, inputs)) {
    Support s = split_matmul_supports(*ctx_, node, inputs);
    if (!s.ok)
      s.reason = "weight above the storage-buffer binding range (" +
                 std::to_string(ctx_->max_binding_bytes()) + " bytes): " + s.reason;
    return s;
  }
  const std::vector<int> host = d->host_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& in = inputs[i];
    if (!in.present || std::find(host.begin(), host.end(), static_cast<int>(i)) != host.end())
      continue;
    if (in.desc.numel() >= INT_MAX)
      return Support::no("tensors of 2^31 or more elements are not supported on Vulkan");
    // A binding covers at most maxStorageBufferRange bytes (plus the offset alignment); ops
    // whose kernels split their work bind windows (checked again in prepare()).
    if (!d->splits && in.desc.nbytes() > ctx_->max_window_bytes())
      return Support::no("input " + std::to_string(i) + " (" + std::to_string(in.desc.nbytes()) +
                         " bytes) is larger than the device's storage-buffer binding range (" +
                         std::to_string(ctx_->max_binding_bytes()) + " bytes) and " + op_key(node) +
                         " does not split its work on Vulkan");
  }
  return d->supports ? d->supports(*ctx_, node, inputs) : Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> VulkanBackend::prepare(
    const ir::Node& node, const std::vector<InputInfo>& inputs) {
  const VkOpDef* d = vk_registry().find(op_key(node));
  if (!d) return unsupported("no Vulkan kernel for " + op_key(node));
  if (split_matmul(*ctx_, node, inputs)) {
    auto k = split_matmul_prepare(*ctx_, node, inputs);
    if (!k) return k.status().with_context(node.describe());
    return k;
  }
  auto k = d->prepare(*ctx_, node, inputs);
  if (!k) return k.status().with_context(node.describe());
  bool large = false;
  std::vector<TensorDesc> in_descs(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].present) continue;
    in_descs[i] = inputs[i].desc;
    large |= inputs[i].desc.nbytes() > ctx_->max_window_bytes();
  }
  for (size_t o = 0; o < (*k)->output_descs().size(); ++o) {
    const TensorDesc& od = (*k)->output_descs()[o];
    if (od.numel() >= INT_MAX)
      return unsupported(node.describe() + ": output " + std::to_string(o) + " (" +
                         desc_to_string(od) + ") has 2^31 or more elements");
    large |= od.nbytes() > ctx_->max_window_bytes();
  }
  if (large) {
    const std::string why = node.describe() + ": a tensor is larger than the device's " +
                            "storage-buffer binding range (" +
                            std::to_string(ctx_->max_binding_bytes()) + " bytes)";
    bool views = true;  // outputs that alias inputs: no work, no binding
    for (size_t o = 0; o < (*k)->output_descs().size(); ++o) views &= (*k)->alias_of(o) >= 0;
    if (views && d->splits) return k;
    auto* steps = dynamic_cast<VkStepsKernel*>(k->get());
    if (!d->splits || !steps) return unsupported(why + " and the kernel does not split");
    Support f = steps->fits(in_descs);
    if (!f.ok) return unsupported(why + ": " + f.reason);
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

Support VkStepsKernel::fits(const std::vector<TensorDesc>& inputs) const {
  const uint64_t limit = ctx_.max_window_bytes();
  for (size_t i = 0; i < steps_.size(); ++i) {
    const VkStep& s = steps_[i];
    for (const VkTensorRef& r : s.refs) {
      const std::vector<TensorDesc>& v = r.output ? outputs_ : inputs;
      if (r.index < 0 || r.index >= static_cast<int>(v.size()))
        return Support::no("dispatch " + std::to_string(i) + " names a missing tensor");
      if (s.linear_n_word >= 4) continue;  // cut into chunks at enqueue
      const int64_t numel = v[r.index].numel();
      const int64_t count = r.win_count < 0 ? numel - r.win_begin : r.win_count;
      const uint64_t bytes = static_cast<uint64_t>(std::max<int64_t>(count, 0)) * r.elem_size;
      if (bytes > limit)
        return Support::no("dispatch " + std::to_string(i) + " of " + name_ + " binds " +
                           std::to_string(bytes) + " bytes of " +
                           (r.output ? "output " : "input ") + std::to_string(r.index));
    }
  }
  return Support::yes();
}

Status VkStepsKernel::enqueue_step(const VkStep& s, const std::vector<DeviceTensor>& inputs,
                                   const std::vector<DeviceTensor>& outputs, int64_t chunk_begin,
                                   int64_t chunk_count) {
  VkDispatch d;
  d.push = s.push;
  for (int g = 0; g < 3; ++g) d.groups[g] = s.groups[g];
  const bool chunked = chunk_count >= 0;
  bool vec4_ok = s.pipe_vec4 != nullptr && !chunked;
  for (size_t k = 0; k < s.refs.size(); ++k) {
    const VkTensorRef& r = s.refs[k];
    const auto& v = r.output ? outputs : inputs;
    if (r.index < 0 || r.index >= static_cast<int>(v.size()) || !v[r.index].buffer)
      return internal_error(name_ + ": " + (r.output ? "output " : "input ") +
                            std::to_string(r.index) + " is not on the device");
    uint32_t elem_off = 0;
    int64_t begin = r.win_begin, count = r.win_count, origin = r.origin;
    if (chunked) {  // items [chunk_begin, +chunk_count) touch the same elements past the origin
      begin = origin = r.origin + chunk_begin;
      count = std::min<int64_t>(chunk_count, v[r.index].desc.numel() - begin);
    }
    KILN_ASSIGN_OR_RETURN(
        VkBinding b, ctx_.bind(v[r.index], r.elem_size, r.output, &elem_off, begin, count, origin));
    d.push[k] = elem_off;
    if (std::find(s.vec4_refs.begin(), s.vec4_refs.end(), static_cast<int>(k)) !=
            s.vec4_refs.end() &&
        elem_off % 4 != 0)
      vec4_ok = false;
    d.bindings.push_back(std::move(b));
  }
  if (chunked) d.push[s.linear_n_word] = static_cast<uint32_t>(chunk_count);
  d.pipe = vec4_ok ? s.pipe_vec4 : s.pipe;
  if (vec4_ok)
    for (int g = 0; g < 3; ++g) d.groups[g] = s.groups_vec4[g];
  ctx_.enqueue(std::move(d));
  return Status::ok();
}

Status VkStepsKernel::enqueue(const std::vector<DeviceTensor>& inputs,
                              const std::vector<DeviceTensor>& outputs) {
  const uint64_t limit = ctx_.max_window_bytes();
  for (const VkStep& s : steps_) {
    bool cut = false;
    uint32_t es = 1;
    if (s.linear_n_word >= 4 && s.linear_n_word < static_cast<int>(kPushWords)) {
      for (const VkTensorRef& r : s.refs) {
        const auto& v = r.output ? outputs : inputs;
        if (r.index < 0 || r.index >= static_cast<int>(v.size())) continue;
        cut |= v[r.index].desc.nbytes() > limit;
        es = std::max(es, r.elem_size);
      }
    }
    if (!cut) {
      KILN_RETURN_IF_ERROR(enqueue_step(s, inputs, outputs, 0, -1));
      continue;
    }
    const int64_t n = s.push[s.linear_n_word];
    const int64_t chunk = std::max<int64_t>(static_cast<int64_t>(limit / es) / 64 * 64, 1);
    for (int64_t a = 0; a < n; a += chunk)
      KILN_RETURN_IF_ERROR(enqueue_step(s, inputs, outputs, a, std::min(chunk, n - a)));
  }
  return Status::ok();
}

}  // namespace kiln::vulkan
