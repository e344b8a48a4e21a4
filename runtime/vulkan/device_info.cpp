// Vulkan physical-device enumeration with the C API. Feature structs are chained only when the
// device's API version or an extension says they are understood.
#include "runtime/vulkan/device_info.h"

#include <vulkan/vulkan.h>

#include <cstring>
#include <exception>
#include <memory>

namespace kiln::vulkan {

namespace {

std::string vk_result_name(VkResult r) {
  switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
      return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT:
      return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
      return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      return "VK_ERROR_INCOMPATIBLE_DRIVER";
    default:
      return "VkResult " + std::to_string(static_cast<int>(r));
  }
}

std::string version_string(uint32_t v) {
  return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) +
         "." + std::to_string(VK_API_VERSION_PATCH(v));
}

std::string driver_version_string(uint32_t vendor, uint32_t v) {
  if (vendor == 0x10de)  // NVIDIA: 10.8.8.6
    return std::to_string((v >> 22) & 0x3ff) + "." + std::to_string((v >> 14) & 0xff) + "." +
           std::to_string((v >> 6) & 0xff) + "." + std::to_string(v & 0x3f);
  return version_string(v);  // Mesa and most others use the API encoding
}

const char* device_type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "DiscreteGPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "IntegratedGPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "VirtualGPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "CPU";
    default:
      return "Other";
  }
}

std::vector<std::string> subgroup_op_names(VkSubgroupFeatureFlags f) {
  static const std::pair<VkSubgroupFeatureFlagBits, const char*> kOps[] = {
      {VK_SUBGROUP_FEATURE_BASIC_BIT, "basic"},
      {VK_SUBGROUP_FEATURE_VOTE_BIT, "vote"},
      {VK_SUBGROUP_FEATURE_ARITHMETIC_BIT, "arithmetic"},
      {VK_SUBGROUP_FEATURE_BALLOT_BIT, "ballot"},
      {VK_SUBGROUP_FEATURE_SHUFFLE_BIT, "shuffle"},
      {VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT, "shuffle_relative"},
      {VK_SUBGROUP_FEATURE_CLUSTERED_BIT, "clustered"},
      {VK_SUBGROUP_FEATURE_QUAD_BIT, "quad"},
  };
  std::vector<std::string> out;
  for (const auto& [bit, name] : kOps)
    if (f & bit) out.push_back(name);
  return out;
}

bool has_ext(const std::vector<std::string>& exts, const char* name) {
  for (const auto& e : exts)
    if (e == name) return true;
  return false;
}

struct InstanceDeleter {
  void operator()(VkInstance_T* i) const { vkDestroyInstance(i, nullptr); }
};
using InstancePtr = std::unique_ptr<VkInstance_T, InstanceDeleter>;

Expected<InstancePtr> create_instance() {
  uint32_t loader_version = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion(&loader_version) != VK_SUCCESS)
    loader_version = VK_API_VERSION_1_0;
  if (loader_version < VK_API_VERSION_1_1)
    return unsupported("the Vulkan loader supports only Vulkan " + version_string(loader_version) +
                       "; kiln needs 1.1");
  // Portability enumeration lists non-conformant implementations (MoltenVK) where present.
  uint32_t n_ext = 0;
  vkEnumerateInstanceExtensionProperties(nullptr, &n_ext, nullptr);
  std::vector<VkExtensionProperties> props(n_ext);
  if (n_ext) vkEnumerateInstanceExtensionProperties(nullptr, &n_ext, props.data());
  std::vector<const char*> enabled;
  VkInstanceCreateFlags flags = 0;
  for (const auto& p : props) {
    if (std::strcmp(p.extensionName, "VK_KHR_portability_enumeration") == 0) {
      enabled.push_back("VK_KHR_portability_enumeration");
      flags |= 0x00000001;  // VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR
    }
  }
  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "kiln";
  app.pEngineName = "kiln";
  app.apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : loader_version;
  VkInstanceCreateInfo ci{};
  ci.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  ci.flags = flags;
  ci.pApplicationInfo = &app;
  ci.enabledExtensionCount = static_cast<uint32_t>(enabled.size());
  ci.ppEnabledExtensionNames = enabled.data();
  VkInstance inst = VK_NULL_HANDLE;
  VkResult r = vkCreateInstance(&ci, nullptr, &inst);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER) return InstancePtr(nullptr);  // no driver: no devices
  if (r != VK_SUCCESS) return runtime_error("vkCreateInstance failed: " + vk_result_name(r));
  return InstancePtr(inst);
}

VulkanDeviceInfo describe(VkPhysicalDevice pd, int index) {
  VulkanDeviceInfo d;
  d.index = index;
  uint32_t n_ext = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n_ext, nullptr);
  std::vector<VkExtensionProperties> eprops(n_ext);
  if (n_ext) vkEnumerateDeviceExtensionProperties(pd, nullptr, &n_ext, eprops.data());
  eprops.resize(n_ext);
  for (const auto& e : eprops) d.extensions.push_back(e.extensionName);

  VkPhysicalDeviceProperties base{};
  vkGetPhysicalDeviceProperties(pd, &base);
  const uint32_t api = base.apiVersion;
  const bool v11 = api >= VK_API_VERSION_1_1, v12 = api >= VK_API_VERSION_1_2,
             v13 = api >= VK_API_VERSION_1_3;
  auto ext = [&](const char* n) { return has_ext(d.extensions, n); };

  // Properties chain.
  VkPhysicalDeviceProperties2 props2{};
  props2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
  VkPhysicalDeviceSubgroupProperties subgroup{};
  subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
  VkPhysicalDeviceSubgroupSizeControlProperties sg_ctl{};
  sg_ctl.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES;
  VkPhysicalDeviceDriverProperties driver{};
  driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
  void** next = &props2.pNext;
  auto chain = [&next](auto* s) {
    *next = s;
    next = &s->pNext;
  };
  if (v11) chain(&subgroup);
  const bool has_sg_ctl = v13 || ext("VK_EXT_subgroup_size_control");
  if (has_sg_ctl) chain(&sg_ctl);
  const bool has_driver = v12 || ext("VK_KHR_driver_properties");
  if (has_driver) chain(&driver);
  VkPhysicalDeviceShaderIntegerDotProductProperties idot_props{};
  idot_props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES;
  const bool has_idot_props = v13 || ext("VK_KHR_shader_integer_dot_product");
  if (has_idot_props) chain(&idot_props);
  if (v11)
    vkGetPhysicalDeviceProperties2(pd, &props2);
  else
    props2.properties = base;
  const VkPhysicalDeviceProperties& p = props2.properties;

  d.name = p.deviceName;
  d.type = device_type_name(p.deviceType);
  d.vendor_id = p.vendorID;
  d.device_id = p.deviceID;
  d.api_version_raw = p.apiVersion;
  d.api_version = version_string(p.apiVersion);
  d.driver_version_raw = p.driverVersion;
  d.driver_version = driver_version_string(p.vendorID, p.driverVersion);
  if (has_driver) {
    d.driver_name = driver.driverName;
    d.driver_info = driver.driverInfo;
  }
  if (v11) {
    d.subgroup_size = subgroup.subgroupSize;
    d.subgroup_operations = subgroup_op_names(subgroup.supportedOperations);
    d.subgroup_ops_in_compute = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
  }
  if (has_idot_props) {
    d.idot_4x8_unsigned_accelerated = idot_props.integerDotProduct4x8BitPackedUnsignedAccelerated;
    d.idot_4x8_signed_accelerated = idot_props.integerDotProduct4x8BitPackedSignedAccelerated;
    d.idot_4x8_mixed_accelerated =
        idot_props.integerDotProduct4x8BitPackedMixedSignednessAccelerated;
  }
  if (has_sg_ctl) {
    d.min_subgroup_size = sg_ctl.minSubgroupSize;
    d.max_subgroup_size = sg_ctl.maxSubgroupSize;
  }
  d.max_storage_buffer_range = p.limits.maxStorageBufferRange;
  d.max_compute_shared_memory_size = p.limits.maxComputeSharedMemorySize;
  d.max_compute_work_group_invocations = p.limits.maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; ++i)
    d.max_compute_work_group_size[i] = p.limits.maxComputeWorkGroupSize[i];
  d.max_push_constants_size = p.limits.maxPushConstantsSize;

  // Features chain.
  VkPhysicalDeviceFeatures2 feats2{};
  feats2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
  VkPhysicalDeviceShaderFloat16Int8Features f16i8{};
  f16i8.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
  VkPhysicalDevice16BitStorageFeatures s16{};
  s16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
  VkPhysicalDevice8BitStorageFeatures s8{};
  s8.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES;
  VkPhysicalDeviceShaderIntegerDotProductFeatures idot{};
  idot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES;
  next = &feats2.pNext;
  const bool has_f16i8 = v12 || ext("VK_KHR_shader_float16_int8");
  const bool has_s16 = v11 || ext("VK_KHR_16bit_storage");
  const bool has_s8 = v12 || ext("VK_KHR_8bit_storage");
  const bool has_idot = v13 || ext("VK_KHR_shader_integer_dot_product");
  if (has_f16i8) chain(&f16i8);
  if (has_s16) chain(&s16);
  if (has_s8) chain(&s8);
  if (has_idot) chain(&idot);
  if (v11)
    vkGetPhysicalDeviceFeatures2(pd, &feats2);
  else
    vkGetPhysicalDeviceFeatures(pd, &feats2.features);
  d.shader_int16 = feats2.features.shaderInt16;
  d.shader_int64 = feats2.features.shaderInt64;
  d.shader_float64 = feats2.features.shaderFloat64;
  if (has_f16i8) {
    d.shader_float16 = f16i8.shaderFloat16;
    d.shader_int8 = f16i8.shaderInt8;
  }
  if (has_s16) d.storage_buffer_16bit = s16.storageBuffer16BitAccess;
  if (has_s8) d.storage_buffer_8bit = s8.storageBuffer8BitAccess;
  if (has_idot) d.integer_dot_product = idot.shaderIntegerDotProduct;
  d.cooperative_matrix = ext("VK_KHR_cooperative_matrix");
  d.cooperative_matrix_nv = ext("VK_NV_cooperative_matrix");

  VkPhysicalDeviceMemoryProperties mem{};
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  for (uint32_t i = 0; i < mem.memoryHeapCount && i < VK_MAX_MEMORY_HEAPS; ++i)
    d.memory_heaps.push_back({mem.memoryHeaps[i].size,
                              (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0});

  uint32_t n_q = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n_q, nullptr);
  std::vector<VkQueueFamilyProperties> qs(n_q);
  if (n_q) vkGetPhysicalDeviceQueueFamilyProperties(pd, &n_q, qs.data());
  for (uint32_t i = 0; i < n_q && i < qs.size(); ++i)
    if (qs[i].queueFlags & VK_QUEUE_COMPUTE_BIT) ++d.compute_queue_families;
  return d;
}

Expected<std::vector<VulkanDeviceInfo>> enumerate() {
  KILN_ASSIGN_OR_RETURN(InstancePtr inst, create_instance());
  std::vector<VulkanDeviceInfo> out;
  if (!inst) return out;
  uint32_t n = 0;
  VkResult r = vkEnumeratePhysicalDevices(inst.get(), &n, nullptr);
  if (r == VK_ERROR_INITIALIZATION_FAILED || n == 0) return out;
  if (r != VK_SUCCESS && r != VK_INCOMPLETE)
    return runtime_error("vkEnumeratePhysicalDevices failed: " + vk_result_name(r));
  std::vector<VkPhysicalDevice> devs(n);
  r = vkEnumeratePhysicalDevices(inst.get(), &n, devs.data());
  if (r != VK_SUCCESS && r != VK_INCOMPLETE)
    return runtime_error("vkEnumeratePhysicalDevices failed: " + vk_result_name(r));
  devs.resize(n);
  for (uint32_t i = 0; i < n; ++i) out.push_back(describe(devs[i], static_cast<int>(i)));
  return out;
}

}  // namespace

Expected<std::vector<VulkanDeviceInfo>> list_vulkan_devices() {
  try {
    return enumerate();
  } catch (const std::exception& e) {
    return runtime_error(std::string("Vulkan enumeration failed: ") + e.what());
  } catch (...) {
    return runtime_error("Vulkan enumeration failed with an unknown exception");
  }
}

}  // namespace kiln::vulkan
