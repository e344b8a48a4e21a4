// Backend-neutral parameter logic of the data-movement ops shared by the OpenCL and Vulkan
// backends: host int-list inputs and axes read as the CPU's shape ops read them
// (runtime/cpu/ops/shape_internal.h), and Pad's attributes / inputs turned into per-axis copy
// ranges with the CPU reference's validation (runtime/cpu/ops/shape_layout.cpp pad_kernel).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/device/backend.h"

namespace kiln::device {

// Generic argument helpers, in their own namespace so that argument-dependent lookup on
// InputInfo (a kiln::device type) does not find them next to a backend's own helpers.
namespace args {

// A 1-D int64 (or int32 when allowed, or a scalar when allowed) host input i.
Expected<std::vector<int64_t>> read_int_list(const std::vector<InputInfo>& in, size_t i,
                                             const std::string& what, bool allow_int32 = false,
                                             bool allow_scalar = false);

// An ints attribute, required.
Expected<std::vector<int64_t>> attr_ints(const ir::Node& n, const char* name);

// An axis in [-rank, rank) made non-negative; `what` names it in the message.
Expected<int64_t> norm_axis(int64_t axis, int64_t rank, const std::string& what);
// Every axis normalised, none repeated.
Expected<std::vector<int64_t>> norm_axes(const std::vector<int64_t>& axes, int64_t rank,
                                         const std::string& what);

// A host-side shape-like input must be there (when `required`) with its value on the host.
Support host_input(const std::vector<InputInfo>& in, size_t i, bool required);

// The first refusal of the two, or a's yes.
inline Support both(Support a, Support b) {
  return a.ok ? b : a;
}

}  // namespace args

// Pad modes as the device kernels number them.
enum PadMode : int { kPadConstant = 0, kPadReflect = 1, kPadEdge = 2, kPadWrap = 3 };

// Pad's supports() after the backend has judged the data input (`data`): the host inputs
// (pads, axes) and the constant_value's dtype and shape.
Support pad_supports(const ir::Node& n, const std::vector<InputInfo>& in, Support data);

// Pad's parameters: per axis of X, the output size and the part of X that is copied (X's
// elements [lo, lo + cnt) land at output [before, before + cnt)); the rest is filled by `mode`.
struct PadParams {
  std::string mode;  // "constant", "reflect", "edge" or "wrap"
  int mode_code = kPadConstant;
  Shape out;
  std::vector<int64_t> lo, cnt, before;
  uint64_t cbits = 0;     // the constant's bits (dtype-sized) for the attribute form
  bool cv_input = false;  // the constant comes from input 2 (a one-element tensor)
};

// Reads mode, pads (attribute before opset 11, input 1 after), value / constant_value and axes
// (opset 18) and checks them as the CPU does.
Expected<PadParams> pad_params(const ir::Node& n, const std::vector<InputInfo>& in);

}  // namespace kiln::device
