// com.microsoft FusedConv on the CPU reference path: Conv (the ONNX Conv kernel of nn_conv.cpp,
// same attributes and inputs X, W, B?) followed by an activation applied in place:
//   activation "Relu", "Tanh", "Sigmoid" (no activation_params), "LeakyRelu" ([alpha]),
//   "HardSigmoid" ([alpha, beta]), "Clip" ([min, max]), as ONNX Runtime's FusedConv takes them.
// float32 only (ONNX Runtime's CPU FusedConv is float only); the optional Z input (a sum added
// before the activation) is refused, so a model using it names the node in the error.
//
// Registered as com.microsoft FusedConv by register_contrib_kernels (contrib.cpp).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "runtime/cpu/kernel.h"
#include "runtime/cpu/ops/nn_internal.h"

namespace kiln::cpu {

namespace {

enum class Act { kNone, kRelu, kTanh, kSigmoid, kLeakyRelu, kHardSigmoid, kClip };

struct Activation {
  Act act = Act::kNone;
  float p0 = 0, p1 = 0;
};

Status read_activation(const OpContext& ctx, Activation* a) {
  const std::string name = ctx.attr_string("activation", "");
  const std::vector<float> params = ctx.attr_floats("activation_params");
  size_t want = 0;
  if (name.empty()) {
    a->act = Act::kNone;
  } else if (name == "Relu") {
    a->act = Act::kRelu;
  } else if (name == "Tanh") {
    a->act = Act::kTanh;
  } else if (name == "Sigmoid") {
    a->act = Act::kSigmoid;
  } else if (name == "LeakyRelu") {
    a->act = Act::kLeakyRelu;
    want = 1;
  } else if (name == "HardSigmoid") {
    a->act = Act::kHardSigmoid;
    want = 2;
  } else if (name == "Clip") {
    a->act = Act::kClip;
    want = 2;
  } else {
    return ctx.unsupported_here("activation '" + name + "'");
  }
  if (params.size() != want && !(want == 0 && params.empty()))
    return ctx.invalid("activation '" + name + "' takes " + std::to_string(want) +
                       " activation_params, got " + std::to_string(params.size()));
  if (want >= 1) a->p0 = params[0];
  if (want >= 2) a->p1 = params[1];
  if (a->act == Act::kClip && !(a->p0 <= a->p1))
    return ctx.invalid("Clip activation_params [min, max] need min <= max");
  return Status::ok();
}

inline float activate(const Activation& a, float v) {
  switch (a.act) {
    case Act::kNone:
      return v;
    case Act::kRelu:
      return v > 0.f ? v : 0.f;
    case Act::kTanh:
      return std::tanh(v);
    case Act::kSigmoid:
      return 1.f / (1.f + std::exp(-v));
    case Act::kLeakyRelu:
      return v >= 0.f ? v : a.p0 * v;
    case Act::kHardSigmoid:
      return std::max(0.f, std::min(1.f, a.p0 * v + a.p1));
    case Act::kClip:
      return std::min(std::max(v, a.p0), a.p1);
  }
  return v;
}

}  // namespace

Status contrib_fused_conv_kernel(OpContext& ctx) {
  if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("needs inputs X and W");
  if (ctx.has_input(3)) return ctx.unsupported_here("input Z (sum) is not supported");
  if (ctx.input(0).dtype() != DType::kFloat32)
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(ctx.input(0).dtype()) +
                                " (FusedConv takes float32)");
  Activation a;
  KILN_RETURN_IF_ERROR(read_activation(ctx, &a));
  KILN_RETURN_IF_ERROR(nn::conv_kernel(ctx));
  if (a.act == Act::kNone) return Status::ok();
  Tensor& y = ctx.outputs()[0];
  float* d = y.data<float>();
  ctx.parallel_for(y.numel(), 4096, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) d[i] = activate(a, d[i]);
  });
  return Status::ok();
}

}  // namespace kiln::cpu
