// Shared by the Vulkan contrib op files (ops_contrib.cpp, ops_attention.cpp): a kernel of several
// dispatches whose bindings may be node inputs, node outputs, scratch buffers owned by the kernel
// or a dummy buffer (for absent optional tensors, which the shader is told not to touch), with up
// to 12 bindings per dispatch. Push word k holds binding k's element offset (the shader's
// `uint off[nbind]`); the shader's parameters follow from word nbind.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan::contrib {

// What a binding refers to.
struct CRef {
  enum Kind { kInput, kOutput, kScratch, kDummy } kind = kDummy;
  int index = 0;
  bool write = false;
};

inline CRef ref_in(int i) {
  return i < 0 ? CRef{CRef::kDummy, 0, false} : CRef{CRef::kInput, i, false};
}
inline CRef ref_out(int i, bool wanted = true) {
  return wanted ? CRef{CRef::kOutput, i, true} : CRef{CRef::kDummy, 0, false};
}
inline CRef ref_scratch(int i, bool write) {
  return {CRef::kScratch, i, write};
}
inline CRef ref_dummy() {
  return {CRef::kDummy, 0, false};
}

// Shader parameters after the binding offsets.
class Params {
 public:
  explicit Params(size_t first) : next_(first) {}
  Params& u(int64_t v) {
    if (next_ < kPushWords) words_[next_] = static_cast<uint32_t>(v);
    ++next_;
    return *this;
  }
  Params& f(float v);
  Params& arr(const std::vector<int64_t>& v, size_t count) {
    for (size_t i = 0; i < count; ++i) u(i < v.size() ? v[i] : 0);
    return *this;
  }
  bool overflow() const { return next_ > kPushWords; }
  const PushWords& words() const { return words_; }

 private:
  PushWords words_{};
  size_t next_;
};

struct CStep {
  const VkPipelineEntry* pipe = nullptr;
  const VkPipelineEntry* pipe_vec4 = nullptr;  // when the vec4_refs' offsets are 4-aligned
  std::vector<int> vec4_refs;
  bool require_vec4 = false;  // enqueue fails (never runs `pipe`) when the offsets do not allow it
  uint32_t groups_vec4[3] = {1, 1, 1};
  std::vector<CRef> refs;
  PushWords push{};
  uint32_t groups[3] = {1, 1, 1};
};

class ContribKernel : public DeviceKernel {
 public:
  ContribKernel(VkContext& ctx, std::string name) : ctx_(ctx), name_(std::move(name)) {}
  // A float scratch buffer of `elems` elements, allocated now; returns its index.
  Expected<int> add_scratch(int64_t elems);
  Status init_dummy();
  void add_step(CStep s) { steps_.push_back(std::move(s)); }
  void set_outputs(std::vector<TensorDesc> o) { outputs_ = std::move(o); }
  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override;
  std::string name() const override { return name_; }

 private:
  VkContext& ctx_;
  std::string name_;
  std::vector<CStep> steps_;
  std::vector<DeviceTensor> scratch_;
  DeviceTensor dummy_;
};

// One grid-stride dispatch of `variant` over n items.
Expected<CStep> grid_step(VkContext& ctx, const std::string& variant, std::vector<CRef> refs,
                          const Params& p, int64_t n, uint32_t local = 64);

bool has_in(const std::vector<InputInfo>& in, size_t i);
bool is_f32(const std::vector<InputInfo>& in, size_t i);
bool wants_output(const ir::Node& n, size_t o);
// Output descriptions for every node output; absent ones get a 1-element placeholder.
std::vector<TensorDesc> output_descs(const ir::Node& n, const std::vector<TensorDesc>& present);

// ops_attention.cpp: Attention and MultiHeadAttention.
void register_vk_attention(VkOpRegistry& r);

}  // namespace kiln::vulkan::contrib
