// Helpers shared by the Vulkan nn op files (ops_conv.cpp: Conv; ops_pool.cpp: pools,
// BatchNormalization, Resize / Upsample; ops_nn.cpp registers both): the backend-neutral parameter
// logic of runtime/device/nn_params.h under this backend's name, and push-constant packing.
#pragma once

#include <algorithm>
#include <array>
#include <climits>
#include <string>
#include <vector>

#include "runtime/cpu/ops/nn_internal.h"
#include "runtime/device/nn_params.h"
#include "runtime/vulkan/vk_ops_util.h"

namespace kiln::vulkan {

void register_vk_conv(VkOpRegistry& r);  // ops_conv.cpp
void register_vk_pool(VkOpRegistry& r);  // ops_pool.cpp: pools, BatchNormalization, Resize

namespace nn_detail {

using namespace device::nn_names;  // NOLINT(build/namespaces): Attrs, Geom, is_f32, ...

// How the shared nn parameter logic (runtime/device/nn_params.h) names this backend; the
// shaders also need windows and planes below 2^31 elements.
inline constexpr device::DeviceTarget kVkTarget{"Vulkan", "Vulkan shader", true};

// Appends a Geom array (three spatial axes) to push constants.
inline void push3(ops::Push& p, const std::array<int64_t, kMaxSpatial>& v) {
  for (int64_t x : v) p.u(x);
}

}  // namespace nn_detail
}  // namespace kiln::vulkan
