// Helpers shared by the OpenCL nn op files (ops_nn.cpp: pools, BatchNormalization, Resize;
// ops_conv.cpp: Conv): attribute reading with the CPU's typing rules, the CPU reference's window
// geometry with int32 limits, vector argument packing and a launch that skips empty outputs.
#pragma once

#include <algorithm>
#include <array>
#include <climits>
#include <string>
#include <vector>

#include "runtime/cpu/ops/nn_internal.h"
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

// Registers Conv (ops_conv.cpp); called from register_cl_nn.
void register_cl_conv(ClOpRegistry& r);

namespace nn_detail {

using cpu::nn::Geom;
using cpu::nn::kMaxSpatial;

// Geometry values (and their sums) stay below this so the kernels' int arithmetic never
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

inline cl_int4 to_int4(const std::array<int64_t, kMaxSpatial>& v) {
  cl_int4 r{};
  for (int i = 0; i < kMaxSpatial; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

inline cl_int8 to_int8(const std::vector<int64_t>& v) {
  cl_int8 r{};
  for (size_t i = 0; i < v.size() && i < 8; ++i) r.s[i] = static_cast<cl_int>(v[i]);
  return r;
}

// A work-group size for n work-items: 64, or the smallest power of two holding n.
inline size_t pick_local(int64_t n) {
  size_t l = 1;
  while (l < 64 && static_cast<int64_t>(l) < n) l <<= 1;
  return l;
}

inline Status check_spatial_rank(const Shape& x) {
  return cpu::nn::check_spatial_rank(x, "input X");
}

// The CPU's geometry (runtime/cpu/ops/nn.cpp compute_geom) with the attributes read by `at`,
// refused where a value would overflow the kernels' int arithmetic.
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
      return unsupported("kernel, strides, dilations or pads too large for the OpenCL kernel");
    // Every index the kernels form stays well inside int32.
    if (std::max<int64_t>(out - 1, 0) * s + eff + in + pb + pe >= kGeomLimit)
      return unsupported("spatial geometry too large for the OpenCL kernel");
  }
  return Status::ok();
}

inline Status check_output_size(const Shape& s) {
  if (numel_of(s) >= INT_MAX) return unsupported("output of 2^31 or more elements");
  return Status::ok();
}

inline Support to_support(const Status& st) {
  return st.is_ok() ? Support::yes() : Support::no(st.message());
}

// A single launch that is skipped when the output is empty (set empty_ in the constructor).
class SkipEmptyKernel : public ClLaunchKernel {
 public:
  using ClLaunchKernel::ClLaunchKernel;
  Status enqueue(const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (empty_) return Status::ok();
    return ClLaunchKernel::enqueue(in, out);
  }

 protected:
  bool empty_ = false;
};

}  // namespace nn_detail
}  // namespace kiln::opencl
