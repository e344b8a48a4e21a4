// Vulkan kernels: com.microsoft ops and fused attention
#include "runtime/vulkan/vulkan_backend.h"

namespace kiln::vulkan {

void register_vk_contrib(VkOpRegistry& r) {
  (void)r;
}

}  // namespace kiln::vulkan
