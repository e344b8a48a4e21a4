// Vulkan kernels: Conv, pools, BatchNormalization, Resize...
#include "runtime/vulkan/vulkan_backend.h"

namespace kiln::vulkan {

void register_vk_nn(VkOpRegistry& r) {
  (void)r;
}

}  // namespace kiln::vulkan
