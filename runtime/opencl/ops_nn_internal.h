// Helpers shared by the OpenCL nn op files (ops_nn.cpp: pools, BatchNormalization, Resize;
// ops_conv.cpp: Conv): the backend-neutral parameter logic of runtime/device/nn_params.h under
// this backend's name, vector argument packing and a launch that skips empty outputs.
#pragma once

#include <algorithm>
#include <array>
#include <climits>
#include <string>
#include <vector>

#include "runtime/cpu/ops/nn_internal.h"
#include "runtime/device/nn_params.h"
#include "runtime/opencl/opencl_backend.h"

namespace kiln::opencl {

// Registers Conv (ops_conv.cpp); called from register_cl_nn.
void register_cl_conv(ClOpRegistry& r);

namespace nn_detail {

using namespace device::nn_names;  // NOLINT(build/namespaces): Attrs, Geom, is_f32, ...

// How the shared nn parameter logic (runtime/device/nn_params.h) names this backend.
inline constexpr device::DeviceTarget kClTarget{"OpenCL", "OpenCL kernel", false};

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
