// Vulkan nn kernels: Conv (ops_conv.cpp), MaxPool / AveragePool, the global pools,
// BatchNormalization and Resize / Upsample (ops_pool.cpp). This file only registers them.
#include "runtime/vulkan/ops_nn_internal.h"

namespace kiln::vulkan {

void register_vk_nn(VkOpRegistry& r) {
  register_vk_conv(r);
  register_vk_pool(r);
}

}  // namespace kiln::vulkan
