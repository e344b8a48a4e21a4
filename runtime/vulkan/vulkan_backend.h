// The Vulkan backend: device buffers, transfers, and a registry of compute-shader kernels per
// op. Each op family lives in its own runtime/vulkan/ops_*.cpp file with its GLSL in
// shaders/*.comp, and registers itself with one register_vk_*() call (see vulkan_backend.cpp).
// Kernels never touch Vulkan directly at enqueue: they append VkDispatch records to the
// context's pending list, which is flushed (recorded once, then replayed) by transfers and
// finish().
//
// Tensors above the storage-buffer binding limit (VkContext::max_binding_bytes()): an op whose
// VkOpDef sets `splits` takes them, and its kernel must then bind only windows that fit: a
// VkTensorRef can name a window of its tensor (fixed at prepare), and a VkStep with
// `linear_n_word` (a 1-D shader whose item i touches element i of every binding) is cut into
// chunks by VkStepsKernel::enqueue. prepare() checks every step of such a kernel and refuses
// (CPU fallback) when one cannot fit.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/device/backend.h"
#include "runtime/vulkan/vk_context.h"

namespace kiln::vulkan {

using device::DeviceKernel;
using device::DeviceTensor;
using device::InputInfo;
using device::Support;
using device::TensorDesc;

// How the backend runs one op: which inputs it needs on the host, whether it can take a node
// with these inputs (and why not), and how to make the kernel for concrete shapes.
struct VkOpDef {
  std::vector<int> host_inputs;
  Support (*supports)(const VkContext&, const ir::Node&, const std::vector<InputInfo>&) = nullptr;
  Expected<std::unique_ptr<DeviceKernel>> (*prepare)(VkContext&, const ir::Node&,
                                                     const std::vector<InputInfo>&) = nullptr;
  // The op's kernels split work on tensors above the binding limit (see the file comment);
  // without it such tensors are refused in supports().
  bool splits = false;
};

class VkOpRegistry {
 public:
  void add(const std::string& op, VkOpDef def) { ops_[op] = std::move(def); }
  const VkOpDef* find(const std::string& op) const {
    auto it = ops_.find(op);
    return it == ops_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> ops() const;

 private:
  std::map<std::string, VkOpDef> ops_;
};

// One line per op family.
void register_vk_elementwise(VkOpRegistry& r);  // unary, binary, compare, Where, Cast, aliases
void register_vk_matmul(VkOpRegistry& r);       // MatMul, Gemm
void register_vk_reduce(VkOpRegistry& r);       // reductions, Softmax, LayerNormalization
void register_vk_data(VkOpRegistry& r);         // views, Transpose, Slice, Concat, Gather...
void register_vk_data_extra(VkOpRegistry& r);   // Pad, Tile, ArgMax/ArgMin (ops_data_extra.cpp)
void register_vk_nn(VkOpRegistry& r);           // Conv, pools, BatchNormalization, Resize...
void register_vk_contrib(VkOpRegistry& r);      // com.microsoft ops, fused attention
void register_vk_quant(VkOpRegistry& r);        // int8: (De)QuantizeLinear, MatMulInteger...
void register_vk_qconv(VkOpRegistry& r);        // int8: ConvInteger, QLinearConv (ops_qconv.cpp)
void register_vk_fused(VkOpRegistry& r);        // ai.kiln FusedElementwise (interpreter shader)
const VkOpRegistry& vk_registry();

// A float32 MatMul whose 2-D weight is above the binding limit, split along K from the registry's
// MatMul and Add kernels (ops_data_split_matmul.cpp). VulkanBackend routes MatMul nodes with such
// a weight here instead of the MatMul entry.
Support split_matmul_supports(const VkContext& ctx, const ir::Node& n,
                              const std::vector<InputInfo>& in);
Expected<std::unique_ptr<DeviceKernel>> split_matmul_prepare(VkContext& ctx, const ir::Node& n,
                                                             const std::vector<InputInfo>& in);

class VulkanBackend : public device::Backend {
 public:
  // `spec`: "vulkan" or "vulkan:N".
  static Expected<std::unique_ptr<VulkanBackend>> create(const std::string& spec);

  std::string name() const override { return ctx_->name(); }
  std::vector<int> host_inputs(const ir::Node& node) const override;
  Support supports(const ir::Node& node, const std::vector<InputInfo>& inputs) const override;
  Expected<std::unique_ptr<DeviceKernel>> prepare(const ir::Node& node,
                                                  const std::vector<InputInfo>& inputs) override;
  Expected<std::shared_ptr<device::DeviceBuffer>> allocate(size_t bytes) override;
  Status upload(const Tensor& src, const DeviceTensor& dst) override;
  Status download(const DeviceTensor& src, Tensor* dst) override;
  Status finish() override;

  // Device-clock timing through timestamp queries (VkContext::mark_begin...).
  bool supports_timing() const override { return ctx_->supports_timing(); }
  Status set_timing(bool on) override { return ctx_->set_timing(on); }
  void mark_begin(int tag) override { ctx_->mark_begin(tag); }
  void mark_end(int tag) override { ctx_->mark_end(tag); }
  Expected<std::vector<device::DeviceTiming>> take_timings() override {
    return ctx_->take_timings();
  }

  VkContext& context() { return *ctx_; }

 private:
  std::unique_ptr<VkContext> ctx_;
};

// Helpers for kernel implementations ---------------------------------------------------------

// Which tensor a dispatch binds: node input `index` (or output when `output`), read as elements
// of `elem_size` bytes. A window binds only elements [win_begin, win_begin + win_count) (count
// -1: the whole tensor); the shader's element offset then points at element `origin` (see
// VkContext::bind), so it indexes relative to `origin`.
struct VkTensorRef {
  bool output = false;
  int index = 0;
  uint32_t elem_size = 4;
  int64_t win_begin = 0, win_count = -1, origin = 0;
};

// One dispatch of a kernel: the pipeline, up to 4 bound tensors (binding k gets its element
// offset in push word k), the shader's parameters in push words 4.., and the workgroup count.
struct VkStep {
  const VkPipelineEntry* pipe = nullptr;
  const VkPipelineEntry* pipe_vec4 = nullptr;  // used when every vec4_ref's offset is 4-aligned
  std::vector<VkTensorRef> refs;
  std::vector<int> vec4_refs;  // binding numbers that must be 16-byte aligned for pipe_vec4
  uint32_t groups_vec4[3] = {1, 1, 1};  // pipe_vec4's workgroup count (its own geometry)
  PushWords push{};
  uint32_t groups[3] = {1, 1, 1};
  // >= 4 when the shader handles items i < push[linear_n_word] and item i touches element i
  // (relative to its origin) of every binding and nothing else: enqueue then cuts the step into
  // chunks that each bind windows within the binding limit (refs must have no window).
  int linear_n_word = -1;
};

// A kernel made of a fixed list of dispatches (most ops have one).
class VkStepsKernel : public DeviceKernel {
 public:
  VkStepsKernel(VkContext& ctx, std::string name, std::vector<TensorDesc> outs,
                std::vector<VkStep> steps)
      : ctx_(ctx), name_(std::move(name)), steps_(std::move(steps)) {
    outputs_ = std::move(outs);
  }
  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override;
  std::string name() const override { return name_; }
  // Whether every dispatch binds only windows within the binding limit for these tensors
  // (linear steps are cut at enqueue); why not otherwise.
  Support fits(const std::vector<TensorDesc>& inputs) const;

 private:
  Status enqueue_step(const VkStep& s, const std::vector<DeviceTensor>& inputs,
                      const std::vector<DeviceTensor>& outputs, int64_t chunk_begin,
                      int64_t chunk_count);

  VkContext& ctx_;
  std::string name_;
  std::vector<VkStep> steps_;
};

// Output 0 views input 0's bytes (Reshape, Identity...): no work.
class VkViewKernel : public DeviceKernel {
 public:
  explicit VkViewKernel(const TensorDesc& d) {
    outputs_ = {d};
    aliases_ = {0};
  }
  Status enqueue(const std::vector<DeviceTensor>&, const std::vector<DeviceTensor>&) override {
    return Status::ok();
  }
  std::string name() const override { return "view"; }
};

// Workgroups for a grid-stride loop over n items with workgroup size `local`.
inline uint32_t grid_groups(int64_t n, uint32_t local) {
  int64_t g = (n + local - 1) / local;
  return static_cast<uint32_t>(std::clamp<int64_t>(g, 1, 65535));
}

// Element size of a dtype as the shaders move it (0 when no shader moves it).
uint32_t shader_elem_size(DType d);

inline Support both(Support a, Support b) {
  return a.ok ? b : a;
}

}  // namespace kiln::vulkan
