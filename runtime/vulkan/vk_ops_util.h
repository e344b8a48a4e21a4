// Small helpers shared by the Vulkan op files (runtime/vulkan/ops_*.cpp): attribute access, host
// int-list inputs, push-constant packing and one-dispatch step construction.
#pragma once

#include <algorithm>
#include <climits>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "runtime/vulkan/vulkan_backend.h"

namespace kiln::vulkan::ops {

inline float attr_f(const ir::Node& n, const char* name, float def) {
  const ir::Attribute* a = n.attr(name);
  if (!a) return def;
  if (a->type == ir::AttrType::kFloat) return a->f;
  if (a->type == ir::AttrType::kInt) return static_cast<float>(a->i);
  return def;
}

inline int64_t attr_i(const ir::Node& n, const char* name, int64_t def) {
  const ir::Attribute* a = n.attr(name);
  return a && a->type == ir::AttrType::kInt ? a->i : def;
}

inline std::string attr_s(const ir::Node& n, const char* name, const std::string& def) {
  const ir::Attribute* a = n.attr(name);
  return a && a->type == ir::AttrType::kString ? a->s : def;
}

inline bool has_attr(const ir::Node& n, const char* name) {
  return n.attr(name) != nullptr;
}

inline Expected<std::vector<int64_t>> attr_ints(const ir::Node& n, const char* name) {
  const ir::Attribute* a = n.attr(name);
  if (!a || a->type != ir::AttrType::kInts)
    return invalid_argument(std::string("attribute '") + name + "' must be a list of ints");
  return a->ints;
}

// A 1-D int64 (or int32 when allowed) host input, as the CPU's shape ops read it.
inline Expected<std::vector<int64_t>> read_int_list(const std::vector<InputInfo>& in, size_t i,
                                                    const std::string& what,
                                                    bool allow_int32 = false,
                                                    bool allow_scalar = false) {
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

inline Support host_input(const std::vector<InputInfo>& in, size_t i, bool required) {
  if (in.size() <= i || !in[i].present)
    return required ? Support::no("missing input " + std::to_string(i)) : Support::yes();
  if (!in[i].host_value) return Support::no("input " + std::to_string(i) + " is not on the host");
  return Support::yes();
}

inline Expected<int64_t> norm_axis(int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= rank)
    return invalid_argument(what + " " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

inline Expected<std::vector<int64_t>> norm_axes(const std::vector<int64_t>& axes, int64_t rank,
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

inline bool fits_u32(int64_t v) {
  return v >= 0 && v < INT_MAX;
}

// Packs shader parameters from push word 4 on (words 0..3 are the tensors' element offsets).
class Push {
 public:
  Push& u(int64_t v) {
    if (next_ < kPushWords) words_[next_] = static_cast<uint32_t>(v);
    ++next_;
    return *this;
  }
  Push& f(float v) {
    uint32_t w;
    std::memcpy(&w, &v, 4);
    return u(w);
  }
  // `count` words from v (zero padded).
  Push& arr(const std::vector<int64_t>& v, size_t count) {
    for (size_t i = 0; i < count; ++i) u(i < v.size() ? v[i] : 0);
    return *this;
  }
  bool overflow() const { return next_ > kPushWords; }
  const PushWords& words() const { return words_; }

 private:
  PushWords words_{};
  uint32_t next_ = 4;
};

// Plan-time shape values as specialization constants 2.. of a pipeline (VkContext::pipeline):
// empty when the context does not specialize (KILN_VK_SPECIALIZE=0) or a value does not fit a
// uint; a shader reads 0 as "use the push constant", so an empty list keeps the push path.
inline std::vector<uint32_t> spec_values(const VkContext& ctx, std::initializer_list<int64_t> v) {
  if (!ctx.specialize()) return {};
  std::vector<uint32_t> out;
  out.reserve(v.size());
  for (int64_t x : v) {
    if (!fits_u32(x)) return {};
    out.push_back(static_cast<uint32_t>(x));
  }
  return out;
}

// shaders/matmul.comp's constants: M, N, K and the element strides sam, sak, sbk, sbn.
inline std::vector<uint32_t> gemm_spec(const VkContext& ctx, int64_t M, int64_t N, int64_t K,
                                       int64_t sam, int64_t sak, int64_t sbk, int64_t sbn) {
  return spec_values(ctx, {M, N, K, sam, sak, sbk, sbn});
}

// One grid-stride dispatch of `variant` over n items (workgroup `local`, at most the device's
// limits), with `spec` as its specialization constants 2.. (see spec_values).
inline Expected<VkStep> make_step(VkContext& ctx, const std::string& variant,
                                  std::vector<VkTensorRef> refs, const Push& push, int64_t n,
                                  uint32_t local = 64, const std::vector<uint32_t>& spec = {}) {
  if (push.overflow()) return internal_error(variant + ": too many push constants");
  // The workgroup size is a specialization constant: chosen here, within the device's limits.
  const VulkanDeviceInfo& info = ctx.info();
  if (info.max_compute_work_group_size[0] > 0)
    local = std::min(local, info.max_compute_work_group_size[0]);
  if (info.max_compute_work_group_invocations > 0)
    local = std::min(local, info.max_compute_work_group_invocations);
  VkStep s;
  KILN_ASSIGN_OR_RETURN(s.pipe,
                        ctx.pipeline(variant, static_cast<uint32_t>(refs.size()), local, 1, spec));
  s.refs = std::move(refs);
  s.push = push.words();
  s.groups[0] = grid_groups(n, local);
  return s;
}

inline VkTensorRef in_ref(int i, uint32_t es = 4) {
  return {false, i, es};
}
inline VkTensorRef out_ref(int i, uint32_t es = 4) {
  return {true, i, es};
}

inline Expected<std::unique_ptr<DeviceKernel>> steps_kernel(VkContext& ctx, std::string name,
                                                            std::vector<TensorDesc> outs,
                                                            std::vector<VkStep> steps) {
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<VkStepsKernel>(ctx, std::move(name), std::move(outs), std::move(steps)));
}

}  // namespace kiln::vulkan::ops
