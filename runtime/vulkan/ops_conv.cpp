// Vulkan Conv, float32, 1 to 3 spatial axes, groups, strides, dilations, pads, auto_pad and an
// optional bias. Output shape and window geometry come from the CPU reference's own functions
// (runtime/cpu/ops/nn_internal.h). Paths, chosen per shape in prepare():
//
//  gemm    group 1, 1x1 kernel, stride 1, no pads, C and P (pixels) multiples of 4:
//          Y[n] [M, P] = W [M, C] x X[n] [C, P] + bias, one batched dispatch of
//          shaders/matmul.comp (its register-blocked vec4 variant when the offsets allow it, else
//          the scalar one), X read in place.
//  dw      depthwise (one input channel and fewer than 4 output channels per group):
//          shaders/conv.comp, one output channel x 8 pixels per invocation, no channel loop.
//  m1p8    other groups of fewer than 4 output channels: the same blocking with a channel loop.
//  m4p4    4 to 7 output channels per group: 4 output channels x 4 pixels per invocation.
//  m8p8    8 or more output channels per group, output rows of 6 pixels or more: 8 x 8.
//  m8p4    8 or more output channels per group, narrower rows: 8 x 4.
// Measured on lavapipe (CPU seconds per run, 3x3 conv 64 -> 64 channels at 56x56): m4p4 ~55 ms,
// m8p4 ~41 ms, m8p8 ~21-28 ms; 1x1 convs: m8p8 and the vec4 GEMM about equal.
// The direct kernels walk the taps outside and the group's input channels inside.
//
// KILN_VK_CONV=direct|m4p4|m8p4|m8p8|m1p8|dw|gemm forces a path where the shape allows it (tests
// and `kiln bench`). Every path accumulates in float; results differ from the CPU reference only in
// summation order and fma rounding (see the OpCase tolerances in tests/opcases).
#include <cstdlib>

#include "runtime/vulkan/ops_nn_internal.h"

namespace kiln::vulkan {

namespace {

using namespace ops;        // NOLINT(build/namespaces)
using namespace nn_detail;  // NOLINT(build/namespaces)

constexpr uint32_t kLocal = 64;  // workgroup size of the direct kernels

using ConvPlan = device::ConvShape;

Status bias_f32(const InputInfo& bias, DType) {
  if (!is_f32(bias)) return unsupported("only a float32 bias on Vulkan");
  return Status::ok();
}

Expected<ConvPlan> conv_plan(const ir::Node& node, const std::vector<InputInfo>& in) {
  if (in.size() < 2 || !in[0].present || !in[1].present) return invalid_argument("needs X and W");
  if (!is_f32(in[0]) || !is_f32(in[1])) return unsupported("only float32 Conv on Vulkan");
  KILN_ASSIGN_OR_RETURN(ConvPlan p, device::conv_shape(node, in, kVkTarget, bias_f32));
  const Shape& x = in[0].desc.shape;
  const Shape& w = in[1].desc.shape;
  // An empty X or W with a non-empty output (no input channels, an empty input plane) would
  // bind an empty buffer: the CPU handles those.
  if (numel_of(p.out) > 0 && (numel_of(x) == 0 || numel_of(w) == 0))
    return unsupported("empty X or W with a non-empty output");
  // Element indices the shaders form (inputs, weights, outputs) stay inside int32.
  if (numel_of(x) >= INT_MAX || numel_of(w) >= INT_MAX)
    return unsupported("tensors of 2^31 or more elements");
  return p;
}

bool is_pointwise(const ConvPlan& p) {
  const Geom& g = p.g;
  for (int a = 0; a < kMaxSpatial; ++a)
    if (g.k[a] != 1 || g.s[a] != 1 || g.pb[a] != 0 || g.pe[a] != 0) return false;
  return true;
}

enum class Path { kGemm, kDw, kM1P8, kM4P4, kM8P4, kM8P8 };

Path choose_path(const ConvPlan& p) {
  const bool gemm_ok = p.group == 1 && is_pointwise(p);
  const char* env = std::getenv("KILN_VK_CONV");
  const std::string f = env ? env : "";
  if (f == "m1p8") return Path::kM1P8;
  if (f == "m4p4") return Path::kM4P4;
  if (f == "m8p4") return Path::kM8P4;
  if (f == "m8p8") return Path::kM8P8;
  if (f == "dw" && p.cg == 1) return Path::kDw;
  if (f == "gemm" && gemm_ok) return Path::kGemm;
  // The GEMM's scalar variant (C or pixels not multiples of 4) is slower than the direct kernel.
  if (gemm_ok && p.c % 4 == 0 && p.g.out_size() % 4 == 0 && f != "direct") return Path::kGemm;
  if (p.mg < 4) return p.cg == 1 ? Path::kDw : Path::kM1P8;
  if (p.mg >= 8) return p.g.out[2] >= 6 ? Path::kM8P8 : Path::kM8P4;
  return Path::kM4P4;
}

// The pointwise conv as one batched GEMM of shaders/matmul.comp (push layout of ops_matmul.cpp):
// A = W [M, C] shared by the images, B = X[n] [C, P], C = bias per row.
Expected<VkStep> gemm_step(VkContext& ctx, const ConvPlan& p) {
  const int64_t M = p.m, N = p.g.out_size(), K = p.c;
  // The matmul shader's configurations (ops_matmul.cpp): scalar 8x8 invocations of 4x4
  // outputs; vec4 8x8 invocations of 4 rows x 8 columns.
  constexpr uint32_t kLx = 8, kLy = 8, kTm = 4, kTn = 4, kVtm = 4, kVtn = 8;
  const int64_t gx = (N + kTn * kLx - 1) / (kTn * kLx), gy = (M + kTm * kLy - 1) / (kTm * kLy);
  const int64_t vx = (N + kVtn * kLx - 1) / (kVtn * kLx), vy = (M + kVtm * kLy - 1) / (kVtm * kLy);
  if (gx > 65535 || gy > 65535 || p.n > 65535)
    return unsupported("the conv GEMM needs more than 65535 workgroups in one dimension");
  for (int64_t v : {M, N, K, p.c * N, M * N * p.n})
    if (!fits_u32(v)) return unsupported("a conv GEMM dimension is too large for the shader");
  Push pu;
  pu.u(M).u(N).u(K).u(1);
  pu.arr({p.n}, 3).arr({0}, 3).arr({p.c * N}, 3);
  pu.u(K).u(1).u(N).u(1).f(1.0f).f(1.0f).u(1).u(0).u(p.bias ? 1 : 0);
  if (pu.overflow()) return internal_error("conv gemm: too many push constants");
  VkStep s;
  const std::vector<uint32_t> spec = gemm_spec(ctx, M, N, K, K, 1, N, 1);
  KILN_ASSIGN_OR_RETURN(s.pipe, ctx.pipeline("matmul_f32", 4, kLx, kLy, spec));
  if (K % 4 == 0 && N % 4 == 0) {
    KILN_ASSIGN_OR_RETURN(s.pipe_vec4, ctx.pipeline("matmul_f32_vec4_tn8", 4, kLx, kLy, spec));
    s.vec4_refs = {0, 1};
    s.groups_vec4[0] = static_cast<uint32_t>(vx);
    s.groups_vec4[1] = static_cast<uint32_t>(vy);
    s.groups_vec4[2] = static_cast<uint32_t>(p.n);
  }
  s.refs = {in_ref(1), in_ref(0), in_ref(p.bias ? 2 : 1), out_ref(0)};
  s.push = pu.words();
  s.groups[0] = static_cast<uint32_t>(gx);
  s.groups[1] = static_cast<uint32_t>(gy);
  s.groups[2] = static_cast<uint32_t>(p.n);
  return s;
}

const char* direct_variant(Path path) {
  switch (path) {
    case Path::kDw:
      return "conv_dw";
    case Path::kM1P8:
      return "conv_m1p8";
    case Path::kM8P4:
      return "conv_m8p4";
    case Path::kM8P8:
      return "conv_m8p8";
    default:
      return "conv_m4p4";
  }
}

Expected<VkStep> direct_step(VkContext& ctx, const ConvPlan& p, Path path) {
  const char* variant = direct_variant(path);
  const bool narrow = path == Path::kM1P8 || path == Path::kDw;
  const int tm = narrow ? 1 : (path == Path::kM8P4 || path == Path::kM8P8) ? 8 : 4;
  const int tp = (narrow || path == Path::kM8P8) ? 8 : 4;
  const Geom& g = p.g;
  const int64_t mblocks = (p.mg + tm - 1) / tm;
  const int64_t pblocks = (g.out[2] + tp - 1) / tp;
  const int64_t items = p.n * p.group * mblocks * g.out[0] * g.out[1] * pblocks;
  if (!fits_u32(items) || !fits_u32(p.n * p.c * g.in_size()) ||
      !fits_u32(p.m * p.cg * g.k_size()) || !fits_u32(p.n * p.m * g.out_size()))
    return unsupported("conv too large for the Vulkan shader's 32-bit indices");
  Push pu;
  pu.u(p.n).u(p.c).u(p.m).u(p.cg).u(p.mg).u(p.group).u(mblocks).u(pblocks).u(p.bias ? 1 : 0);
  push3(pu, g.in);
  push3(pu, g.k);
  push3(pu, g.s);
  push3(pu, g.d);
  push3(pu, g.pb);
  push3(pu, g.out);
  // Strides, dilations and begin pads (+ 1) are specialization constants of conv.comp. The
  // kernel sizes and channels per group (ids 2..4, 14) stay push constants (0 here): as constant
  // loop bounds lavapipe unrolls the kernel loops fully and the 3x3 conv 1x32x56x56 -> 64 ran at
  // 5.35 instead of 5.82 GFLOP/s.
  const std::vector<uint32_t> spec =
      spec_values(ctx, {0, 0, 0, g.s[0], g.s[1], g.s[2], g.d[0], g.d[1], g.d[2], g.pb[0] + 1,
                        g.pb[1] + 1, g.pb[2] + 1, 0});
  return make_step(ctx, variant, {in_ref(0), in_ref(1), in_ref(p.bias ? 2 : 1), out_ref(0)}, pu,
                   items, kLocal, spec);
}

Support conv_supports(const VkContext&, const ir::Node& n, const std::vector<InputInfo>& in) {
  return to_support(conv_plan(n, in).status());
}

Expected<std::unique_ptr<DeviceKernel>> conv_prepare(VkContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(ConvPlan p, conv_plan(n, in));
  std::vector<VkStep> steps;
  const Path path = choose_path(p);
  std::string name = "conv_gemm";
  if (numel_of(p.out) > 0) {
    if (path == Path::kGemm) {
      KILN_ASSIGN_OR_RETURN(VkStep s, gemm_step(ctx, p));
      steps.push_back(std::move(s));
    } else {
      KILN_ASSIGN_OR_RETURN(VkStep s, direct_step(ctx, p, path));
      name = direct_variant(path);
      steps.push_back(std::move(s));
    }
  }
  return steps_kernel(ctx, name, {{DType::kFloat32, p.out}}, std::move(steps));
}

}  // namespace

void register_vk_conv(VkOpRegistry& r) {
  r.add("Conv", {{}, conv_supports, conv_prepare});
}

}  // namespace kiln::vulkan
