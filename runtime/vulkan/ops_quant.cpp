// Vulkan kernels: int8: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger...
#include "runtime/vulkan/vulkan_backend.h"

namespace kiln::vulkan {

void register_vk_quant(VkOpRegistry& r) {
  (void)r;
}

}  // namespace kiln::vulkan
