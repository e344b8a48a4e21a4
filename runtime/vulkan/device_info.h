// Enumeration of Vulkan physical devices and the capabilities kiln's Vulkan backend uses.
// Used by `kiln devices` and by the backend to pick a device. A machine without a Vulkan driver
// (VK_ERROR_INCOMPATIBLE_DRIVER, no devices) gives an empty list; other failures a Status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/status.h"

namespace kiln::vulkan {

struct VulkanMemoryHeap {
  uint64_t size_bytes = 0;
  bool device_local = false;
};

struct VulkanDeviceInfo {
  int index = 0;  // position in vkEnumeratePhysicalDevices order: the N of `vulkan:N`
  std::string name;
  std::string type;  // "DiscreteGPU", "IntegratedGPU", "VirtualGPU", "CPU", "Other"
  uint32_t vendor_id = 0, device_id = 0;
  std::string api_version;  // "1.3.238"
  uint32_t api_version_raw = 0;
  std::string driver_version;  // decoded per vendor where the encoding is known
  uint32_t driver_version_raw = 0;
  std::string driver_name, driver_info;  // VK_KHR_driver_properties / Vulkan 1.2

  // Subgroups (Vulkan 1.1).
  uint32_t subgroup_size = 0;
  uint32_t min_subgroup_size = 0, max_subgroup_size = 0;  // subgroup size control, else 0
  std::vector<std::string> subgroup_operations;           // "basic", "arithmetic", ...
  bool subgroup_ops_in_compute = false;

  // Features.
  bool shader_float16 = false;
  bool shader_int8 = false;
  bool shader_int16 = false;
  bool shader_int64 = false;
  bool shader_float64 = false;
  bool storage_buffer_16bit = false;
  bool storage_buffer_8bit = false;
  bool integer_dot_product = false;    // VK_KHR_shader_integer_dot_product feature
  // Its properties: the packed 4 x 8-bit dot products run on dot-product hardware (else the
  // driver emulates them; still exact).
  bool idot_4x8_unsigned_accelerated = false;
  bool idot_4x8_signed_accelerated = false;
  bool idot_4x8_mixed_accelerated = false;
  bool cooperative_matrix = false;     // VK_KHR_cooperative_matrix extension present
  bool cooperative_matrix_nv = false;  // VK_NV_cooperative_matrix extension present

  // Limits.
  uint64_t max_storage_buffer_range = 0;
  uint32_t max_compute_shared_memory_size = 0;
  uint32_t max_compute_work_group_invocations = 0;
  uint32_t max_compute_work_group_size[3] = {0, 0, 0};
  uint32_t max_push_constants_size = 0;
  uint32_t compute_queue_families = 0;

  std::vector<VulkanMemoryHeap> memory_heaps;
  std::vector<std::string> extensions;
};

// Creates a VkInstance, enumerates the physical devices, destroys the instance.
Expected<std::vector<VulkanDeviceInfo>> list_vulkan_devices();

}  // namespace kiln::vulkan
