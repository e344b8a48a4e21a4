// Helpers shared by the Vulkan nn op files (ops_conv.cpp: Conv; ops_pool.cpp: pools,
// BatchNormalization, Resize / Upsample; ops_nn.cpp registers both): attribute reading with the
// CPU's typing rules, and the CPU reference's window geometry (runtime/cpu/ops/nn_internal.h)
// with the int32 limits of the shaders.
#pragma once

#include <algorithm>
#include <array>
#include <climits>
#include <string>
#include <vector>

#include "runtime/cpu/ops/nn_internal.h"
#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan {

void register_vk_conv(VkOpRegistry& r);  // ops_conv.cpp
void register_vk_pool(VkOpRegistry& r);  // ops_pool.cpp: pools, BatchNormalization, Resize

namespace nn_detail {

using cpu::nn::Geom;
using cpu::nn::kMaxSpatial;

// Geometry values (and their sums) stay below this so the shaders' int arithmetic never
// overflows.
constexpr int64_t kGeomLimit = int64_t{1} << 30;

// Reads attributes with the CPU's typing rules; a present attribute of the wrong type is
// remembered in `bad` (the node then goes to the CPU, which reports it).
struct Attrs {
  const ir::Node& n;
  std::string bad;

  const ir::Attribute* typed(const char* name, ir::AttrType t) {
    const ir::Attribute* a = n.attr(name);
    if (a && a->type != t) {
      if (bad.empty()) bad = std::string("attribute ") + name + " has the wrong type";
      return nullptr;
    }
    return a;
  }
  bool has(const char* name) const { return n.attr(name) != nullptr; }
  int64_t i(const char* name, int64_t def) {
    const ir::Attribute* a = typed(name, ir::AttrType::kInt);
    return a ? a->i : def;
  }
  float f(const char* name, float def) {
    const ir::Attribute* a = n.attr(name);
    if (a && a->type == ir::AttrType::kInt) return static_cast<float>(a->i);
    a = typed(name, ir::AttrType::kFloat);
    return a ? a->f : def;
  }
  std::string s(const char* name, const std::string& def) {
    const ir::Attribute* a = typed(name, ir::AttrType::kString);
    return a ? a->s : def;
  }
  std::vector<int64_t> ints(const char* name, const std::vector<int64_t>& def) {
    const ir::Attribute* a = typed(name, ir::AttrType::kInts);
    return a ? a->ints : def;
  }
  std::vector<float> floats(const char* name) {
    const ir::Attribute* a = typed(name, ir::AttrType::kFloats);
    return a ? a->floats : std::vector<float>{};
  }
  Status check() const { return bad.empty() ? Status::ok() : unsupported(bad); }
};

inline bool is_f32(const InputInfo& in) {
  return in.present && in.desc.dtype == DType::kFloat32;
}

inline Support to_support(const Status& st) {
  return st.is_ok() ? Support::yes() : Support::no(st.message());
}

inline Status check_output_size(const Shape& s) {
  if (numel_of(s) >= INT_MAX) return unsupported("output of 2^31 or more elements");
  return Status::ok();
}

// Appends a Geom array (three spatial axes) to push constants.
inline void push3(ops::Push& p, const std::array<int64_t, kMaxSpatial>& v) {
  for (int64_t x : v) p.u(x);
}

// The CPU's geometry (cpu::nn::compute_geom) with the attributes read by `at`, refused where a
// value would overflow the shaders' int arithmetic.
inline Status make_geom(Attrs& at, const Shape& x, const std::vector<int64_t>& kernel, bool pool,
                        bool ceil_mode, Geom* g) {
  cpu::nn::WindowAttrs wa;
  wa.strides = at.ints("strides", {});
  wa.dilations = at.ints("dilations", {});
  wa.pads = at.ints("pads", {});
  wa.auto_pad = at.s("auto_pad", "NOTSET");
  KILN_RETURN_IF_ERROR(at.check());
  cpu::nn::GeomOptions opt;
  opt.pool = pool;
  opt.ceil_mode = ceil_mode;
  KILN_ASSIGN_OR_RETURN(*g, cpu::nn::compute_geom(x, kernel, std::move(wa), opt));
  for (int a = 0; a < kMaxSpatial; ++a) {
    const int64_t in = g->in[a], s = g->s[a], out = g->out[a], pb = g->pb[a], pe = g->pe[a];
    const int64_t eff = (g->k[a] - 1) * g->d[a] + 1;
    if (g->k[a] > kGeomLimit || s > kGeomLimit || g->d[a] > kGeomLimit || pb > kGeomLimit ||
        pe > kGeomLimit || eff > kGeomLimit)
      return unsupported("kernel, strides, dilations or pads too large for the Vulkan shader");
    // Every index the shaders form stays well inside int32.
    if (std::max<int64_t>(out - 1, 0) * s + eff + in + pb + pe >= kGeomLimit)
      return unsupported("spatial geometry too large for the Vulkan shader");
  }
  if (g->k_size() >= kGeomLimit || g->in_size() >= INT_MAX || g->out_size() >= INT_MAX)
    return unsupported("window or spatial size too large for the Vulkan shader");
  return Status::ok();
}

}  // namespace nn_detail
}  // namespace kiln::vulkan
