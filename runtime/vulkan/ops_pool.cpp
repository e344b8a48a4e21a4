// Vulkan MaxPool / AveragePool, GlobalAveragePool / GlobalMaxPool (shaders/pool.comp),
// BatchNormalization in inference form (shaders/batchnorm.comp) and Resize / Upsample
// (shaders/resize.comp), float32 over 1 to 3 spatial axes (Resize: rank up to 8). Output shapes,
// window geometry and Resize's parameters and taps come from the CPU reference's own functions
// (runtime/cpu/ops/nn_internal.h), as in the OpenCL backend (runtime/opencl/ops_nn.cpp); anything
// the shaders do not cover (other dtypes, MaxPool's Indices output, training mode, per-element
// BatchNormalization parameters) is refused in supports() so the node runs on the CPU, which
// also reports invalid attributes.
#include <algorithm>
#include <climits>
#include <cstring>

#include "runtime/cpu/ops/common.h"
#include "runtime/vulkan/ops_nn_internal.h"

namespace kiln::vulkan {

namespace {

using namespace ops;        // NOLINT(build/namespaces)
using namespace nn_detail;  // NOLINT(build/namespaces)

// --- MaxPool / AveragePool -------------------------------------------------------------------

using PoolPlan = device::PoolShape;

Expected<PoolPlan> pool_plan(const ir::Node& node, const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(PoolPlan p, device::pool_shape(node, in, kVkTarget));
  if (numel_of(p.out) > 0 && numel_of(in[0].desc.shape) == 0)
    return unsupported("empty X with a non-empty output");
  return p;
}

Support pool_supports(const VkContext&, const ir::Node& n, const std::vector<InputInfo>& in) {
  return to_support(pool_plan(n, in).status());
}

Expected<std::unique_ptr<DeviceKernel>> pool_prepare(VkContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(PoolPlan p, pool_plan(n, in));
  const int64_t total = numel_of(p.out);
  std::vector<VkStep> steps;
  if (total > 0) {
    Push pu;
    pu.u(total).u(p.mode);
    for (const auto* v : {&p.g.in, &p.g.k, &p.g.s, &p.g.d, &p.g.pb, &p.g.pe, &p.g.out})
      push3(pu, *v);
    KILN_ASSIGN_OR_RETURN(VkStep s, make_step(ctx, "pool_f32", {in_ref(0), out_ref(0)}, pu, total));
    steps.push_back(std::move(s));
  }
  return steps_kernel(ctx, p.mode == 0 ? "max_pool" : "average_pool", {{DType::kFloat32, p.out}},
                      std::move(steps));
}

// --- GlobalAveragePool / GlobalMaxPool -------------------------------------------------------

Status global_pool_check(const std::vector<InputInfo>& in) {
  if (in.empty() || !in[0].present) return invalid_argument("needs X");
  if (!is_f32(in[0])) return unsupported("only float32 global pools on Vulkan");
  const Shape& x = in[0].desc.shape;
  if (x.size() < 3) return invalid_argument("input X must have rank >= 3");
  if (numel_of(x) == 0 && x[0] * x[1] > 0)
    return unsupported("empty planes (the CPU gives NaN / -inf for them)");
  return Status::ok();
}

Support global_pool_supports(const VkContext&, const ir::Node&, const std::vector<InputInfo>& in) {
  return to_support(global_pool_check(in));
}

Expected<std::unique_ptr<DeviceKernel>> global_pool_prepare(VkContext& ctx, const ir::Node& n,
                                                            const std::vector<InputInfo>& in) {
  KILN_RETURN_IF_ERROR(global_pool_check(in));
  const Shape& x = in[0].desc.shape;
  const bool is_max = n.op_type() == "GlobalMaxPool";
  Shape out = x;
  for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
  const int64_t planes = x[0] * x[1];
  const int64_t size = planes > 0 ? numel_of(x) / planes : 0;
  std::vector<VkStep> steps;
  if (planes > 0) {
    Push pu;
    pu.u(planes).u(size).u(is_max ? 1 : 0);
    // Planes are few (N x C): small workgroups spread them over the cores.
    KILN_ASSIGN_OR_RETURN(
        VkStep s, make_step(ctx, "global_pool_f32", {in_ref(0), out_ref(0)}, pu, planes, 8));
    steps.push_back(std::move(s));
  }
  return steps_kernel(ctx, is_max ? "global_max_pool" : "global_average_pool",
                      {{DType::kFloat32, out}}, std::move(steps));
}

// --- BatchNormalization ----------------------------------------------------------------------

Expected<float> batch_norm_check(const ir::Node& node, const std::vector<InputInfo>& in) {
  return device::batch_norm_epsilon(node, in, kVkTarget);
}

Support batch_norm_supports(const VkContext&, const ir::Node& n, const std::vector<InputInfo>& in) {
  return to_support(batch_norm_check(n, in).status());
}

Expected<std::unique_ptr<DeviceKernel>> batch_norm_prepare(VkContext& ctx, const ir::Node& n,
                                                           const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(float eps, batch_norm_check(n, in));
  const Shape& x = in[0].desc.shape;
  const int64_t total = numel_of(x);
  const int64_t c = x[1];
  const int64_t size = c > 0 && x[0] > 0 ? total / (x[0] * c) : 0;
  std::vector<VkStep> steps;
  if (total > 0) {
    Push pu;
    pu.u(total).u(c).u(std::max<int64_t>(size, 1)).f(eps);
    // Y = (X - mean) / sqrt(var + eps), then Y = Y * scale + B in place.
    KILN_ASSIGN_OR_RETURN(
        VkStep s1,
        make_step(ctx, "batchnorm_f32", {in_ref(0), in_ref(3), in_ref(4), out_ref(0)}, pu, total));
    KILN_ASSIGN_OR_RETURN(VkStep s2, make_step(ctx, "batchnorm_affine_f32",
                                               {out_ref(0), in_ref(1), in_ref(2)}, pu, total));
    steps.push_back(std::move(s1));
    steps.push_back(std::move(s2));
  }
  return steps_kernel(ctx, "batch_norm", {{DType::kFloat32, x}}, std::move(steps));
}

// --- Resize / Upsample (parameters and taps from runtime/cpu/ops/nn_resize.cpp) -------------

using cpu::nn::ResizeParams;
using cpu::nn::taps_per_coord;

constexpr size_t kMaxResizeRank = 8;

// The tap table of shaders/resize.comp: per axis, (out + 1) entries giving the table index of
// each coordinate's first (input index, weight bits) pair, then the pairs. An outside
// coordinate becomes one pair with index -1; a coordinate with no taps one pair (0, 0), which
// sums nothing like the CPU.
void append_taps(const ResizeParams& p, int axis, int64_t in, int64_t out,
                 std::vector<int32_t>* begin, std::vector<std::pair<int32_t, float>>* pairs) {
  cpu::nn::AxisTaps a;
  cpu::nn::build_taps(p, axis, in, out, &a);
  for (int64_t o = 0; o < out; ++o) {
    begin->push_back(static_cast<int32_t>(pairs->size()));
    if (a.outside[o]) {
      pairs->push_back({-1, 0.0f});
      continue;
    }
    for (int64_t e = a.begin[o]; e < a.begin[o + 1]; ++e)
      pairs->push_back({static_cast<int32_t>(a.idx[e]), static_cast<float>(a.w[e])});
    if (a.begin[o] == a.begin[o + 1]) pairs->push_back({0, 0.0f});
  }
  begin->push_back(static_cast<int32_t>(pairs->size()));
}

// Resize or Upsample's parameters plus the checks that keep the shader within its limits.
Expected<ResizeParams> resample_plan(const ir::Node& node, const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(ResizeParams p, device::resample_params(node, in, kVkTarget));
  const Shape& x = in[0].desc.shape;
  int64_t taps = 0;
  for (size_t a = 0; a < x.size(); ++a) {
    taps += (p.out[a] + 1) +
            2 * p.out[a] * std::max<int64_t>(taps_per_coord(p, static_cast<int>(a)), 1);
    if (taps > (int64_t{1} << 24)) return unsupported("Resize tap tables too large for Vulkan");
  }
  return p;
}

// One dispatch of shaders/resize.comp with X, the kernel's own tap table and Y bound.
class ResizeKernel : public DeviceKernel {
 public:
  ResizeKernel(VkContext& ctx, const Shape& out, device::DeviceTensor table, VkStep step,
               bool empty)
      : ctx_(ctx), table_(std::move(table)), step_(std::move(step)), empty_(empty) {
    outputs_ = {TensorDesc{DType::kFloat32, out}};
  }
  std::string name() const override { return "resize"; }

  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    if (in.empty() || !in[0].buffer || out.empty() || !out[0].buffer)
      return internal_error("resize: a tensor is not on the device");
    VkDispatch d;
    d.pipe = step_.pipe;
    d.push = step_.push;
    for (int g = 0; g < 3; ++g) d.groups[g] = step_.groups[g];
    const DeviceTensor* ts[3] = {&in[0], &table_, &out[0]};
    for (int k = 0; k < 3; ++k) {
      uint32_t elem_off = 0;
      KILN_ASSIGN_OR_RETURN(VkBinding b, ctx_.bind(*ts[k], 4, k == 2, &elem_off));
      d.push[k] = elem_off;
      d.bindings.push_back(std::move(b));
    }
    ctx_.enqueue(std::move(d));
    return Status::ok();
  }

 private:
  VkContext& ctx_;
  DeviceTensor table_;
  VkStep step_;
  bool empty_;
};

Support resize_supports(const VkContext&, const ir::Node& n, const std::vector<InputInfo>& in) {
  return to_support(resample_plan(n, in).status());
}

Expected<std::unique_ptr<DeviceKernel>> resize_prepare(VkContext& ctx, const ir::Node& n,
                                                       const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(ResizeParams p, resample_plan(n, in));
  const Shape& x = in[0].desc.shape;
  const int64_t total = numel_of(p.out);
  // Table: every axis' begin entries first (tb_off[a] is axis a's first), then the pairs.
  std::vector<std::vector<int32_t>> begins(x.size());
  std::vector<std::pair<int32_t, float>> pairs;
  for (size_t a = 0; a < x.size(); ++a)
    append_taps(p, static_cast<int>(a), x[a], p.out[a], &begins[a], &pairs);
  std::vector<int64_t> tb_off;
  size_t nbegin = 0;
  for (const auto& b : begins) {
    tb_off.push_back(static_cast<int64_t>(nbegin));
    nbegin += b.size();
  }
  std::vector<int32_t> table;
  table.reserve(nbegin + 2 * pairs.size());
  for (const auto& b : begins)
    for (int32_t v : b) table.push_back(static_cast<int32_t>(nbegin) + 2 * v);
  for (const auto& [idx, w] : pairs) {
    int32_t bits;
    std::memcpy(&bits, &w, 4);
    table.push_back(idx);
    table.push_back(bits);
  }
  const size_t bytes = table.size() * sizeof(int32_t);
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<device::DeviceBuffer> buf, ctx.allocate(bytes));
  DeviceTensor t{{DType::kInt32, {static_cast<int64_t>(table.size())}}, buf, 0};
  KILN_RETURN_IF_ERROR(ctx.write(t, table.data(), bytes));
  Push pu;
  pu.u(total).u(static_cast<int64_t>(x.size()));
  pu.arr(p.out, kMaxResizeRank).arr(cpu::strides_of(x), kMaxResizeRank).arr(tb_off, kMaxResizeRank);
  pu.f(static_cast<float>(p.extrapolation));
  KILN_ASSIGN_OR_RETURN(VkStep s, make_step(ctx, "resize_f32", {in_ref(0), in_ref(0), out_ref(0)},
                                            pu, std::max<int64_t>(total, 1)));
  return std::unique_ptr<DeviceKernel>(
      std::make_unique<ResizeKernel>(ctx, p.out, std::move(t), std::move(s), total == 0));
}

}  // namespace

void register_vk_pool(VkOpRegistry& r) {
  r.add("MaxPool", {{}, pool_supports, pool_prepare});
  r.add("AveragePool", {{}, pool_supports, pool_prepare});
  r.add("GlobalAveragePool", {{}, global_pool_supports, global_pool_prepare});
  r.add("GlobalMaxPool", {{}, global_pool_supports, global_pool_prepare});
  r.add("BatchNormalization", {{}, batch_norm_supports, batch_norm_prepare});
  r.add("Resize", {{1, 2, 3}, resize_supports, resize_prepare});
  r.add("Upsample", {{1}, resize_supports, resize_prepare});
}

}  // namespace kiln::vulkan
