// Backend-neutral parameter and shape logic of the nn ops (Conv, MaxPool / AveragePool, Resize /
// Upsample) shared by the OpenCL and Vulkan backends: attribute reading with the CPU's typing
// rules, the CPU reference's window geometry (runtime/cpu/ops/nn_internal.h) with the int32 limits
// of device kernels, and the plans both backends' supports() and prepare() start from. Messages
// name the backend through a DeviceTarget so each backend keeps its own wording.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/cpu/ops/nn_internal.h"
#include "runtime/device/backend.h"

namespace kiln::device {

// How a backend is named in refusals ("only float32 pools on <name>", "... too large for the
// <program>") and which extra limits its kernels have.
struct DeviceTarget {
  std::string_view name;     // "OpenCL"
  std::string_view program;  // "OpenCL kernel"
  // Also refuse windows, input planes or output planes of 2^31 or more elements (Vulkan).
  bool limit_plane_sizes = false;
};

// Geometry values (and their sums) stay below this so device int arithmetic never overflows.
constexpr int64_t kGeomLimit = int64_t{1} << 30;

// Reads attributes with the CPU's typing rules; a present attribute of the wrong type is
// remembered in `bad` (the node then goes to the CPU, which reports it).
struct NodeAttrs {
  const ir::Node& n;
  std::string bad;

  const ir::Attribute* typed(const char* name, ir::AttrType t);
  bool has(const char* name) const { return n.attr(name) != nullptr; }
  int64_t i(const char* name, int64_t def);
  float f(const char* name, float def);  // an int attribute is read as a float
  std::string s(const char* name, const std::string& def);
  std::vector<int64_t> ints(const char* name, const std::vector<int64_t>& def);
  std::vector<float> floats(const char* name);
  Status check() const { return bad.empty() ? Status::ok() : unsupported(bad); }
};

inline bool is_f32(const InputInfo& in) {
  return in.present && in.desc.dtype == DType::kFloat32;
}

inline Support to_support(const Status& st) {
  return st.is_ok() ? Support::yes() : Support::no(st.message());
}

// Refuses outputs of 2^31 or more elements.
Status check_output_size(const Shape& s);

// The CPU's geometry (cpu::nn::compute_geom) with the strides, dilations, pads and auto_pad
// read by `at`, refused where a value would overflow the target's int arithmetic.
Status make_geom(NodeAttrs& at, const Shape& x, const std::vector<int64_t>& kernel, bool pool,
                 bool ceil_mode, const DeviceTarget& target, cpu::nn::Geom* g);

// Conv's shapes: X [N, C, spatial...], W [M, C/group, kernel...], optional bias [M].
struct ConvShape {
  cpu::nn::Geom g;
  int64_t n = 0, c = 0, m = 0, group = 1, cg = 0, mg = 0;
  bool bias = false;
  Shape out;
};

// Checks a present bias input's dtype against X's (the backend's own rule and wording).
using BiasDtypeCheck = Status (*)(const InputInfo& bias, DType x_dtype);

// Conv's geometry and shape checks after the backend has checked that X and W are present and
// of a dtype it runs; `bias_dtype` is called on a present bias before its shape is checked.
Expected<ConvShape> conv_shape(const ir::Node& node, const std::vector<InputInfo>& in,
                               const DeviceTarget& target, BiasDtypeCheck bias_dtype);

// MaxPool / AveragePool (float32 only, no Indices output).
struct PoolShape {
  cpu::nn::Geom g;
  int mode = 0;  // 0 max, 1 average, 2 average counting pads
  Shape out;
};
Expected<PoolShape> pool_shape(const ir::Node& node, const std::vector<InputInfo>& in,
                               const DeviceTarget& target);

// BatchNormalization in inference mode with float32 per-channel parameters: its epsilon.
Expected<float> batch_norm_epsilon(const ir::Node& node, const std::vector<InputInfo>& in,
                                   const DeviceTarget& target);

// Resize's / Upsample's parameters from the node and its host inputs (cpu::nn::resize_params,
// cpu::nn::upsample_params); roi, scales and sizes must be known on the host.
Expected<cpu::nn::ResizeParams> resize_node_params(const ir::Node& node,
                                                   const std::vector<InputInfo>& in);
Expected<cpu::nn::ResizeParams> upsample_node_params(const ir::Node& node,
                                                     const std::vector<InputInfo>& in);

// Resize or Upsample on float32 X of rank 1 to 8 (dispatching on the op type), with an output of
// fewer than 2^31 elements; the backend then sizes its tap tables.
Expected<cpu::nn::ResizeParams> resample_params(const ir::Node& node,
                                                const std::vector<InputInfo>& in,
                                                const DeviceTarget& target);

// The names the backends' nn op files use unqualified (`using namespace device::nn_names;`).
namespace nn_names {
using cpu::nn::Geom;
using cpu::nn::kMaxSpatial;
using device::check_output_size;
using device::is_f32;
using device::to_support;
using Attrs = device::NodeAttrs;
}  // namespace nn_names

}  // namespace kiln::device
