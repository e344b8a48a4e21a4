// VkContext: instance and device setup, validation messenger, pipelines and their disk cache,
// block sub-allocation, and the record-once / replay command recorder.
#include "runtime/vulkan/vk_context.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/opencl/cl_context.h"  // kernel_cache_dir(): one cache folder for every backend
#include "runtime/vulkan/spirv.h"

namespace kiln::vulkan {

namespace {

std::atomic<uint64_t> g_validation_messages{0};

VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                              VkDebugUtilsMessageTypeFlagsEXT,
                                              const VkDebugUtilsMessengerCallbackDataEXT* data,
                                              void*) {
  const char* msg = data && data->pMessage ? data->pMessage : "(no message)";
  g_validation_messages.fetch_add(1);
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)
    spdlog::error("Vulkan validation: {}", msg);
  else
    spdlog::warn("Vulkan validation: {}", msg);
  return VK_FALSE;
}

VkDebugUtilsMessengerCreateInfoEXT messenger_info() {
  VkDebugUtilsMessengerCreateInfoEXT ci{};
  ci.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
  ci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  ci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                   VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                   VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  ci.pfnUserCallback = debug_callback;
  return ci;
}

bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string(v) != "0";
}

int type_rank(const std::string& type) {
  if (type == "DiscreteGPU") return 0;
  if (type == "IntegratedGPU") return 1;
  if (type == "VirtualGPU") return 2;
  if (type == "CPU") return 3;
  return 4;
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

Status vk_check(VkResult r, const std::string& what) {
  if (r == VK_SUCCESS) return Status::ok();
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
    return out_of_memory(what + " failed: " + vk_result_string(r));
  return runtime_error(what + " failed: " + vk_result_string(r));
}

}  // namespace

std::string vk_result_string(VkResult r) {
  const char* n = nullptr;
  switch (r) {
    case VK_NOT_READY:
      n = "VK_NOT_READY";
      break;
    case VK_TIMEOUT:
      n = "VK_TIMEOUT";
      break;
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      n = "VK_ERROR_OUT_OF_HOST_MEMORY";
      break;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      n = "VK_ERROR_OUT_OF_DEVICE_MEMORY";
      break;
    case VK_ERROR_INITIALIZATION_FAILED:
      n = "VK_ERROR_INITIALIZATION_FAILED";
      break;
    case VK_ERROR_DEVICE_LOST:
      n = "VK_ERROR_DEVICE_LOST";
      break;
    case VK_ERROR_MEMORY_MAP_FAILED:
      n = "VK_ERROR_MEMORY_MAP_FAILED";
      break;
    case VK_ERROR_LAYER_NOT_PRESENT:
      n = "VK_ERROR_LAYER_NOT_PRESENT";
      break;
    case VK_ERROR_EXTENSION_NOT_PRESENT:
      n = "VK_ERROR_EXTENSION_NOT_PRESENT";
      break;
    case VK_ERROR_FEATURE_NOT_PRESENT:
      n = "VK_ERROR_FEATURE_NOT_PRESENT";
      break;
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      n = "VK_ERROR_INCOMPATIBLE_DRIVER";
      break;
    case VK_ERROR_TOO_MANY_OBJECTS:
      n = "VK_ERROR_TOO_MANY_OBJECTS";
      break;
    case VK_ERROR_FRAGMENTED_POOL:
      n = "VK_ERROR_FRAGMENTED_POOL";
      break;
    case VK_ERROR_OUT_OF_POOL_MEMORY:
      n = "VK_ERROR_OUT_OF_POOL_MEMORY";
      break;
    default:
      break;
  }
  std::string s = n ? n : "VkResult";
  return s + " (" + std::to_string(static_cast<int>(r)) + ")";
}

uint64_t validation_message_count() {
  return g_validation_messages.load();
}

// --- memory --------------------------------------------------------------------------------------

// Large VkBuffer + VkDeviceMemory blocks with a first-fit free list each. Requests above a
// quarter of the block size get a block of their own, released when freed.
class MemoryPool {
 public:
  struct Block {
    VkBufferHandle buffer;
    VkMemoryHandle memory;
    uint8_t* mapped = nullptr;
    VkDeviceSize size = 0;
    bool dedicated = false;
    std::map<VkDeviceSize, VkDeviceSize> free;  // offset -> size
  };

  MemoryPool(VkDevice dev, uint32_t type, bool host_visible, VkDeviceSize align,
             VkDeviceSize block_size)
      : dev_(dev), type_(type), host_visible_(host_visible), align_(align), block_(block_size) {}

  // Called by the context before it destroys the device: later frees are no-ops.
  void shutdown() {
    std::lock_guard<std::mutex> l(mu_);
    blocks_.clear();
    dead_ = true;
  }

  // Set when a block is destroyed: recorded command buffers may name its VkBuffer.
  bool take_blocks_released() {
    std::lock_guard<std::mutex> l(mu_);
    bool r = released_;
    released_ = false;
    return r;
  }

  Expected<std::shared_ptr<device::DeviceBuffer>> allocate(const std::shared_ptr<MemoryPool>& self,
                                                           VkDeviceSize bytes) {
    std::lock_guard<std::mutex> l(mu_);
    if (dead_) return internal_error("the Vulkan device is closed");
    bytes = std::max<VkDeviceSize>((bytes + align_ - 1) / align_ * align_, align_);
    if (bytes <= block_ / 4) {
      for (size_t b = 0; b < blocks_.size(); ++b) {
        Block* blk = blocks_[b].get();
        if (!blk || blk->dedicated) continue;
        for (auto it = blk->free.begin(); it != blk->free.end(); ++it) {
          if (it->second < bytes) continue;
          VkDeviceSize off = it->first, sz = it->second;
          blk->free.erase(it);
          if (sz > bytes) blk->free[off + bytes] = sz - bytes;
          return make(self, static_cast<int>(b), off, bytes);
        }
      }
    }
    const bool dedicated = bytes > block_ / 4;
    KILN_ASSIGN_OR_RETURN(int b, new_block(dedicated ? bytes : block_, dedicated));
    Block* blk = blocks_[b].get();
    if (!dedicated) {
      blk->free.clear();
      if (blk->size > bytes) blk->free[bytes] = blk->size - bytes;
    }
    return make(self, b, 0, bytes);
  }

  void release(int b, VkDeviceSize off, VkDeviceSize size) {
    std::lock_guard<std::mutex> l(mu_);
    if (dead_ || b < 0 || b >= static_cast<int>(blocks_.size()) || !blocks_[b]) return;
    Block* blk = blocks_[b].get();
    if (blk->dedicated) {
      blocks_[b].reset();
      released_ = true;
      return;
    }
    auto it = blk->free.emplace(off, size).first;
    // Merge with the next and the previous free range.
    auto next = std::next(it);
    if (next != blk->free.end() && it->first + it->second == next->first) {
      it->second += next->second;
      blk->free.erase(next);
    }
    if (it != blk->free.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        blk->free.erase(it);
      }
    }
  }

  bool host_visible() const { return host_visible_; }

 private:
  Expected<std::shared_ptr<device::DeviceBuffer>> make(const std::shared_ptr<MemoryPool>& self,
                                                       int b, VkDeviceSize off,
                                                       VkDeviceSize bytes) {
    Block* blk = blocks_[b].get();
    return std::shared_ptr<device::DeviceBuffer>(
        std::make_shared<VkAllocation>(self, b, blk->buffer.get(), off, bytes, blk->mapped));
  }

  Expected<int> new_block(VkDeviceSize size, bool dedicated) {
    auto blk = std::make_unique<Block>();
    VkBufferCreateInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    bi.size = size;
    bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
               VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VkBuffer buf = VK_NULL_HANDLE;
    KILN_RETURN_IF_ERROR(
        vk_check(vkCreateBuffer(dev_, &bi, nullptr, &buf),
                 "creating a Vulkan buffer of " + std::to_string(size) + " bytes"));
    blk->buffer = VkBufferHandle(dev_, buf);
    VkMemoryRequirements req{};
    vkGetBufferMemoryRequirements(dev_, buf, &req);
    if (!(req.memoryTypeBits & (1u << type_)))
      return internal_error("the chosen Vulkan memory type cannot hold storage buffers");
    VkMemoryAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = type_;
    VkDeviceMemory mem = VK_NULL_HANDLE;
    VkResult r = vkAllocateMemory(dev_, &ai, nullptr, &mem);
    if (r != VK_SUCCESS)
      return out_of_memory("allocating " + std::to_string(size) +
                           " bytes of Vulkan device memory failed: " + vk_result_string(r));
    blk->memory = VkMemoryHandle(dev_, mem);
    KILN_RETURN_IF_ERROR(vk_check(vkBindBufferMemory(dev_, buf, mem, 0), "vkBindBufferMemory"));
    if (host_visible_) {
      void* p = nullptr;
      KILN_RETURN_IF_ERROR(
          vk_check(vkMapMemory(dev_, mem, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory"));
      blk->mapped = static_cast<uint8_t*>(p);
    }
    blk->size = size;
    blk->dedicated = dedicated;
    for (size_t i = 0; i < blocks_.size(); ++i)
      if (!blocks_[i]) {
        blocks_[i] = std::move(blk);
        return static_cast<int>(i);
      }
    blocks_.push_back(std::move(blk));
    return static_cast<int>(blocks_.size() - 1);
  }

  std::mutex mu_;
  VkDevice dev_;
  uint32_t type_;
  bool host_visible_;
  VkDeviceSize align_, block_;
  std::vector<std::unique_ptr<Block>> blocks_;
  bool dead_ = false;
  bool released_ = false;
};

VkAllocation::~VkAllocation() {
  if (pool_) pool_->release(block_, base_, size_);
}

// --- context -------------------------------------------------------------------------------------

struct VkContext::Recorded {
  VkDescriptorPoolHandle pool;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  size_t dispatches = 0;
  VkQueryPoolHandle queries;  // two timestamps per mark, when recorded with marks
  uint32_t query_count = 0;
};

Expected<std::unique_ptr<VkContext>> VkContext::create(const std::string& spec) {
  std::unique_ptr<VkContext> c(new VkContext());
  KILN_RETURN_IF_ERROR(c->init(spec));
  spdlog::info("Vulkan device: {}", c->name());
  return c;
}

std::string VkContext::name() const {
  std::string s = "vulkan:" + std::to_string(info_.index) + " (" + info_.name;
  if (!info_.driver_name.empty()) s += ", " + info_.driver_name;
  return s + ")";
}

Status VkContext::init(const std::string& spec) {
  // Pick the device from the enumeration `kiln devices` shows.
  KILN_ASSIGN_OR_RETURN(auto devices, list_vulkan_devices());
  if (devices.empty())
    return unsupported("device '" + spec + "' is not available: no Vulkan device found");
  int want = -1;
  if (spec != "vulkan") {
    const std::string n = spec.substr(spec.find(':') + 1);
    char* end = nullptr;
    long v = std::strtol(n.c_str(), &end, 10);
    if (n.empty() || *end || v < 0)
      return invalid_argument("bad Vulkan device '" + spec + "' (expected vulkan or vulkan:N)");
    if (v >= static_cast<long>(devices.size()))
      return unsupported("device '" + spec + "' is not available: there are " +
                         std::to_string(devices.size()) + " Vulkan devices");
    want = static_cast<int>(v);
  } else {
    want = devices[0].index;
    for (const auto& d : devices)
      if (type_rank(d.type) < type_rank(devices[want].type)) want = d.index;
  }
  info_ = devices[want];
  if (info_.api_version_raw < VK_API_VERSION_1_1)
    return unsupported("Vulkan device '" + info_.name + "' supports only Vulkan " +
                       info_.api_version + "; kiln needs 1.1");

  if (const char* sp = std::getenv("KILN_VK_SPECIALIZE"); sp && std::strcmp(sp, "0") == 0) {
    specialize_ = false;
    spdlog::info("Vulkan: shape specialization constants off (KILN_VK_SPECIALIZE=0)");
  }

  // Instance, with validation on request.
  validation_ = env_on("KILN_VK_VALIDATION");
  std::vector<const char*> layers, exts;
  if (validation_) {
    uint32_t n = 0;
    vkEnumerateInstanceLayerProperties(&n, nullptr);
    std::vector<VkLayerProperties> lp(n);
    if (n) vkEnumerateInstanceLayerProperties(&n, lp.data());
    bool have = false;
    for (const auto& l : lp) have |= std::strcmp(l.layerName, "VK_LAYER_KHRONOS_validation") == 0;
    if (!have) {
      spdlog::warn("KILN_VK_VALIDATION=1 but VK_LAYER_KHRONOS_validation is not installed");
      validation_ = false;
    } else {
      layers.push_back("VK_LAYER_KHRONOS_validation");
      exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    }
  }
  uint32_t loader = VK_API_VERSION_1_1;
  vkEnumerateInstanceVersion(&loader);
  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "kiln";
  app.pEngineName = "kiln";
  const uint32_t app_api = loader >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_1;
  app.apiVersion = app_api;
  VkDebugUtilsMessengerCreateInfoEXT mci = messenger_info();
  VkInstanceCreateInfo ici{};
  ici.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  ici.pApplicationInfo = &app;
  ici.enabledLayerCount = static_cast<uint32_t>(layers.size());
  ici.ppEnabledLayerNames = layers.data();
  ici.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  ici.ppEnabledExtensionNames = exts.data();
  if (validation_) ici.pNext = &mci;
  KILN_RETURN_IF_ERROR(vk_check(vkCreateInstance(&ici, nullptr, &instance_), "vkCreateInstance"));
  if (validation_) {
    auto fn = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    if (fn)
      KILN_RETURN_IF_ERROR(
          vk_check(fn(instance_, &mci, nullptr, &messenger_), "vkCreateDebugUtilsMessengerEXT"));
    spdlog::info("Vulkan validation layer enabled (KILN_VK_VALIDATION=1)");
  }
  uint32_t n = 0;
  KILN_RETURN_IF_ERROR(
      vk_check(vkEnumeratePhysicalDevices(instance_, &n, nullptr), "vkEnumeratePhysicalDevices"));
  std::vector<VkPhysicalDevice> pds(n);
  if (n) vkEnumeratePhysicalDevices(instance_, &n, pds.data());
  if (want >= static_cast<int>(n))
    return runtime_error("the Vulkan device list changed while opening device " +
                         std::to_string(want));
  physical_ = pds[want];
  vkGetPhysicalDeviceProperties(physical_, &props_);

  // A compute queue.
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> qf(nq);
  if (nq) vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nq, qf.data());
  bool found = false;
  for (uint32_t i = 0; i < nq && !found; ++i)
    if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      queue_family_ = i;
      found = true;
    }
  if (!found) return unsupported("Vulkan device '" + info_.name + "' has no compute queue");
  // Timestamps on that queue (timestampComputeAndGraphics promises them on every compute queue;
  // else the family's timestampValidBits says).
  timestamp_bits_ = qf[queue_family_].timestampValidBits;
  timestamp_period_ = props_.limits.timestampPeriod;
  if (!(timestamp_period_ > 0)) timestamp_bits_ = 0;
  max_binding_ = info_.max_storage_buffer_range;
  if (const char* lim = std::getenv("KILN_VK_MAX_BINDING_BYTES"); lim && *lim) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(lim, &end, 10);
    if (*end || v < 4096)
      return invalid_argument(std::string("KILN_VK_MAX_BINDING_BYTES='") + lim +
                              "' is not a byte count of at least 4096");
    if (v < max_binding_) {
      max_binding_ = v;
      spdlog::info("Vulkan storage-buffer bindings limited to {} bytes (KILN_VK_MAX_BINDING_BYTES)",
                   v);
    }
  }

  // Features: enabled only when present.
  const bool v12 = info_.api_version_raw >= VK_API_VERSION_1_2;
  auto has_ext = [&](const char* e) {
    return std::find(info_.extensions.begin(), info_.extensions.end(), e) != info_.extensions.end();
  };
  std::vector<const char*> dev_exts;
  VkPhysicalDeviceFeatures2 f2{};
  f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
  VkPhysicalDevice16BitStorageFeatures s16{};
  s16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
  VkPhysicalDevice8BitStorageFeatures s8{};
  s8.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES;
  VkPhysicalDeviceShaderFloat16Int8Features f16i8{};
  f16i8.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
  void** next = &f2.pNext;
  auto chain = [&next](auto* s) {
    *next = s;
    next = &s->pNext;
  };
  if (info_.shader_int16) {
    f2.features.shaderInt16 = VK_TRUE;
    features_.int16 = true;
  }
  if (info_.storage_buffer_16bit) {
    s16.storageBuffer16BitAccess = VK_TRUE;
    features_.storage_16bit = true;
    chain(&s16);
  }
  const bool s8_ok = info_.storage_buffer_8bit && (v12 || has_ext("VK_KHR_8bit_storage"));
  if (s8_ok) {
    s8.storageBuffer8BitAccess = VK_TRUE;
    features_.storage_8bit = true;
    if (!v12) dev_exts.push_back("VK_KHR_8bit_storage");
    chain(&s8);
  }
  const bool f16i8_ok =
      (info_.shader_float16 || info_.shader_int8) && (v12 || has_ext("VK_KHR_shader_float16_int8"));
  if (f16i8_ok) {
    f16i8.shaderFloat16 = info_.shader_float16 ? VK_TRUE : VK_FALSE;
    f16i8.shaderInt8 = info_.shader_int8 ? VK_TRUE : VK_FALSE;
    features_.float16 = info_.shader_float16;
    features_.int8 = info_.shader_int8;
    if (!v12) dev_exts.push_back("VK_KHR_shader_float16_int8");
    chain(&f16i8);
  }
  VkPhysicalDeviceShaderIntegerDotProductFeatures idot{};
  idot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES;
  const bool v13 = info_.api_version_raw >= VK_API_VERSION_1_3 && app_api >= VK_API_VERSION_1_3;
  const bool idot_ext = has_ext("VK_KHR_shader_integer_dot_product");
  if (info_.integer_dot_product && (v13 || idot_ext)) {
    idot.shaderIntegerDotProduct = VK_TRUE;
    features_.integer_dot_product = true;
    if (!v13) dev_exts.push_back("VK_KHR_shader_integer_dot_product");
    chain(&idot);
  }
  features_.cooperative_matrix = info_.cooperative_matrix;
  features_.subgroups =
      info_.subgroup_ops_in_compute &&
      std::find(info_.subgroup_operations.begin(), info_.subgroup_operations.end(), "arithmetic") !=
          info_.subgroup_operations.end();
  spdlog::info(
      "Vulkan device '{}': 16-bit storage {}, 8-bit storage {}, shaderFloat16 {}, shaderInt8 {}, "
      "integer dot product {} (4x8 packed accelerated: {}), subgroups {} (size {}), "
      "cooperative matrix {}",
      info_.name, features_.storage_16bit ? "on" : "off", features_.storage_8bit ? "on" : "off",
      features_.float16 ? "on" : "off", features_.int8 ? "on" : "off",
      features_.integer_dot_product ? "on" : "off",
      info_.idot_4x8_unsigned_accelerated ? "yes" : "no", features_.subgroups ? "on" : "off",
      info_.subgroup_size, features_.cooperative_matrix ? "present (not used)" : "absent");

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci{};
  qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
  qci.queueFamilyIndex = queue_family_;
  qci.queueCount = 1;
  qci.pQueuePriorities = &prio;
  VkDeviceCreateInfo dci{};
  dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
  dci.pNext = &f2;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = static_cast<uint32_t>(dev_exts.size());
  dci.ppEnabledExtensionNames = dev_exts.data();
  KILN_RETURN_IF_ERROR(
      vk_check(vkCreateDevice(physical_, &dci, nullptr, &device_), "vkCreateDevice"));
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

  // Command pool and fence.
  VkCommandPoolCreateInfo cpi{};
  cpi.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  cpi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  cpi.queueFamilyIndex = queue_family_;
  VkCommandPool cp = VK_NULL_HANDLE;
  KILN_RETURN_IF_ERROR(
      vk_check(vkCreateCommandPool(device_, &cpi, nullptr, &cp), "vkCreateCommandPool"));
  command_pool_ = VkCommandPoolHandle(device_, cp);
  VkFenceCreateInfo fci{};
  fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
  VkFence f = VK_NULL_HANDLE;
  KILN_RETURN_IF_ERROR(vk_check(vkCreateFence(device_, &fci, nullptr, &f), "vkCreateFence"));
  fence_ = VkFenceHandle(device_, f);

  // Pipeline cache, keyed by the device's pipelineCacheUUID, vendor/device ids and driver.
  std::vector<char> cache_data;
  const std::string dir = opencl::kernel_cache_dir();
  if (!dir.empty()) {
    cache_file_ = dir + "/vulkan-" + hex_bytes(props_.pipelineCacheUUID, VK_UUID_SIZE) + "-" +
                  std::to_string(props_.vendorID) + "-" + std::to_string(props_.deviceID) + "-" +
                  std::to_string(props_.driverVersion) + ".pipelines";
    std::ifstream in(cache_file_, std::ios::binary);
    if (in) cache_data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  VkPipelineCacheCreateInfo pci{};
  pci.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO;
  pci.initialDataSize = cache_data.size();
  pci.pInitialData = cache_data.empty() ? nullptr : cache_data.data();
  VkPipelineCache pc = VK_NULL_HANDLE;
  VkResult r = vkCreatePipelineCache(device_, &pci, nullptr, &pc);
  if (r != VK_SUCCESS && !cache_data.empty()) {  // a damaged file: start empty
    pci.initialDataSize = 0;
    pci.pInitialData = nullptr;
    r = vkCreatePipelineCache(device_, &pci, nullptr, &pc);
  }
  KILN_RETURN_IF_ERROR(vk_check(r, "vkCreatePipelineCache"));
  pipeline_cache_ = VkPipelineCacheHandle(device_, pc);

  // Memory: the device-local type, host-visible and coherent when there is one (lavapipe,
  // integrated GPUs), so transfers are plain memcpy; else device-local with staging copies.
  VkPhysicalDeviceMemoryProperties mp{};
  vkGetPhysicalDeviceMemoryProperties(physical_, &mp);
  const VkMemoryPropertyFlags hv =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int best = -1, best_score = -1;
  for (uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
    const VkMemoryPropertyFlags fl = mp.memoryTypes[i].propertyFlags;
    int score = 0;
    if (fl & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) score += 2;
    if ((fl & hv) == hv) score += 1;
    if (fl & (VK_MEMORY_PROPERTY_PROTECTED_BIT | VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT)) continue;
    if (score > best_score) {
      best = static_cast<int>(i);
      best_score = score;
    }
  }
  if (best < 0) return unsupported("Vulkan device '" + info_.name + "' has no usable memory type");
  const bool mapped = (mp.memoryTypes[best].propertyFlags & hv) == hv;
  VkDeviceSize align = std::max<VkDeviceSize>(256, props_.limits.minStorageBufferOffsetAlignment);
  VkDeviceSize block = 64ull << 20;
  const VkDeviceSize heap = mp.memoryHeaps[mp.memoryTypes[best].heapIndex].size;
  if (heap > 0 && block > heap / 8) block = std::max<VkDeviceSize>(heap / 8, 1 << 20);
  pool_ = std::make_shared<MemoryPool>(device_, static_cast<uint32_t>(best), mapped, align, block);
  return Status::ok();
}

VkContext::~VkContext() {
  if (device_ != VK_NULL_HANDLE) {
    vkDeviceWaitIdle(device_);
    save_pipeline_cache();
    drop_recordings();
    pipelines_.clear();
    pending_.clear();
    if (pool_) pool_->shutdown();
    fence_.reset();
    command_pool_.reset();
    pipeline_cache_.reset();
    vkDestroyDevice(device_, nullptr);
  }
  if (messenger_ != VK_NULL_HANDLE) {
    auto fn = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (fn) fn(instance_, messenger_, nullptr);
  }
  if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
}

void VkContext::save_pipeline_cache() {
  if (cache_file_.empty() || !pipeline_cache_) return;
  size_t size = 0;
  if (vkGetPipelineCacheData(device_, pipeline_cache_.get(), &size, nullptr) != VK_SUCCESS || !size)
    return;
  std::vector<char> data(size);
  if (vkGetPipelineCacheData(device_, pipeline_cache_.get(), &size, data.data()) != VK_SUCCESS)
    return;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(cache_file_).parent_path(), ec);
  // Write a temporary file and rename it, so concurrent processes never read a partial file.
  const std::string tmp = cache_file_ + ".tmp" + std::to_string(reinterpret_cast<uintptr_t>(this));
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) return;
    out.write(data.data(), static_cast<std::streamsize>(size));
    if (!out) return;
  }
  std::filesystem::rename(tmp, cache_file_, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

Expected<const VkPipelineEntry*> VkContext::pipeline(const std::string& variant, uint32_t bindings,
                                                     uint32_t lx, uint32_t ly,
                                                     const std::vector<uint32_t>& spec) {
  std::lock_guard<std::mutex> l(mu_);
  std::string key = variant + "/" + std::to_string(bindings) + "/" + std::to_string(lx) + "x" +
                    std::to_string(ly);
  for (uint32_t v : spec) {
    key += '/';
    key += std::to_string(v);
  }
  auto it = pipelines_.find(key);
  if (it != pipelines_.end()) return it->second.get();
  std::span<const uint32_t> words = spirv_for(variant);
  if (words.empty()) return internal_error("no SPIR-V for shader variant '" + variant + "'");
  auto e = std::make_unique<VkPipelineEntry>();
  e->name = variant;
  e->bindings = bindings;
  VkShaderModuleCreateInfo smi{};
  smi.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
  smi.codeSize = words.size() * sizeof(uint32_t);
  smi.pCode = words.data();
  VkShaderModule sm = VK_NULL_HANDLE;
  KILN_RETURN_IF_ERROR(vk_check(vkCreateShaderModule(device_, &smi, nullptr, &sm),
                                "creating shader module " + variant));
  e->module = VkShaderModuleHandle(device_, sm);
  std::vector<VkDescriptorSetLayoutBinding> lb(bindings);
  for (uint32_t i = 0; i < bindings; ++i) {
    lb[i].binding = i;
    lb[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    lb[i].descriptorCount = 1;
    lb[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo dli{};
  dli.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
  dli.bindingCount = bindings;
  dli.pBindings = lb.data();
  VkDescriptorSetLayout dsl = VK_NULL_HANDLE;
  KILN_RETURN_IF_ERROR(vk_check(vkCreateDescriptorSetLayout(device_, &dli, nullptr, &dsl),
                                "vkCreateDescriptorSetLayout"));
  e->set_layout = VkSetLayoutHandle(device_, dsl);
  VkPushConstantRange pr{};
  pr.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  pr.offset = 0;
  pr.size = kPushWords * sizeof(uint32_t);
  VkPipelineLayoutCreateInfo pli{};
  pli.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
  pli.setLayoutCount = 1;
  pli.pSetLayouts = &dsl;
  pli.pushConstantRangeCount = 1;
  pli.pPushConstantRanges = &pr;
  VkPipelineLayout pl = VK_NULL_HANDLE;
  KILN_RETURN_IF_ERROR(
      vk_check(vkCreatePipelineLayout(device_, &pli, nullptr, &pl), "vkCreatePipelineLayout"));
  e->layout = VkPipelineLayoutHandle(device_, pl);
  // Constant ids 0 and 1: the workgroup size; 2 + i: spec[i].
  std::vector<uint32_t> values = {lx, ly};
  values.insert(values.end(), spec.begin(), spec.end());
  std::vector<VkSpecializationMapEntry> me(values.size());
  for (uint32_t i = 0; i < me.size(); ++i)
    me[i] = {i, static_cast<uint32_t>(i * sizeof(uint32_t)), sizeof(uint32_t)};
  VkSpecializationInfo si{};
  si.mapEntryCount = static_cast<uint32_t>(me.size());
  si.pMapEntries = me.data();
  si.dataSize = values.size() * sizeof(uint32_t);
  si.pData = values.data();
  VkComputePipelineCreateInfo cpi{};
  cpi.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
  cpi.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  cpi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cpi.stage.module = sm;
  cpi.stage.pName = "main";
  cpi.stage.pSpecializationInfo = &si;
  cpi.layout = pl;
  VkPipeline p = VK_NULL_HANDLE;
  KILN_RETURN_IF_ERROR(
      vk_check(vkCreateComputePipelines(device_, pipeline_cache_.get(), 1, &cpi, nullptr, &p),
               "creating the compute pipeline for " + variant));
  e->pipeline = VkPipelineHandle(device_, p);
  const VkPipelineEntry* out = e.get();
  pipelines_[key] = std::move(e);
  return out;
}

size_t VkContext::pipelines_built(const std::string& variant) {
  std::lock_guard<std::mutex> l(mu_);
  size_t n = 0;
  for (const auto& [key, e] : pipelines_) n += e->name == variant ? 1 : 0;
  return n;
}

Expected<std::shared_ptr<device::DeviceBuffer>> VkContext::allocate(size_t bytes) {
  return pool_->allocate(pool_, std::max<size_t>(bytes, 4));
}

uint64_t VkContext::max_window_bytes() const {
  const uint64_t slack = std::max<VkDeviceSize>(props_.limits.minStorageBufferOffsetAlignment, 256);
  return max_binding_ > 2 * slack ? max_binding_ - slack : max_binding_ / 2;
}

Expected<VkBinding> VkContext::bind(const device::DeviceTensor& t, size_t elem_size, bool write,
                                    uint32_t* elem_offset, int64_t win_begin, int64_t win_count,
                                    int64_t origin) const {
  auto* a = dynamic_cast<VkAllocation*>(t.buffer.get());
  if (!a) return internal_error("a tensor is not in Vulkan device memory");
  const size_t all = t.desc.nbytes();
  if (t.offset + all > a->size())
    return internal_error("a tensor runs past the end of its Vulkan allocation");
  if (elem_size == 0) return internal_error("a binding with element size 0");
  const int64_t numel = static_cast<int64_t>(all / elem_size);
  if (win_count < 0) win_count = numel - win_begin;
  if (win_begin < 0 || win_count < 0 || win_begin + win_count > std::max<int64_t>(numel, 1))
    return internal_error("a binding window lies outside its tensor");
  const size_t bytes = static_cast<size_t>(win_count) * elem_size;
  const VkDeviceSize abs = a->base() + t.offset + static_cast<VkDeviceSize>(win_begin) * elem_size;
  const VkDeviceSize align =
      std::max<VkDeviceSize>(props_.limits.minStorageBufferOffsetAlignment, 1);
  VkBinding b;
  b.buffer = a->buffer();
  b.offset = abs / align * align;
  const VkDeviceSize rem = abs - b.offset;
  if (elem_size == 0 || rem % elem_size != 0)
    return internal_error("a tensor's offset is not a multiple of its element size");
  b.range = std::max<VkDeviceSize>(rem + bytes, 4);
  // The range may run up to 3 bytes past a small tensor's end, never past the allocation.
  if (b.offset + b.range > a->base() + a->size()) b.range = a->base() + a->size() - b.offset;
  if (b.range > max_binding_)
    return unsupported("a tensor window of " + std::to_string(bytes) +
                       " bytes is larger than the device's storage-buffer binding range (" +
                       std::to_string(max_binding_) + " bytes)");
  b.begin = abs;
  b.end = abs + bytes;
  b.write = write;
  b.keep = t.buffer;
  // Wraps modulo 2^32 when origin < win_begin: shaders add their index in uint arithmetic.
  *elem_offset = static_cast<uint32_t>(static_cast<uint64_t>(rem / elem_size) +
                                       static_cast<uint64_t>(origin - win_begin));
  return b;
}

void VkContext::enqueue(VkDispatch d) {
  std::lock_guard<std::mutex> l(mu_);
  pending_.push_back(std::move(d));
}

void VkContext::drop_recordings() {
  for (auto& [k, r] : recorded_)
    if (r->cb != VK_NULL_HANDLE) vkFreeCommandBuffers(device_, command_pool_.get(), 1, &r->cb);
  recorded_.clear();
  lru_.clear();
}

Expected<std::unique_ptr<VkContext::Recorded>> VkContext::record(
    const std::vector<VkDispatch>& list, const std::vector<Mark>& marks) {
  auto rec = std::make_unique<Recorded>();
  rec->dispatches = list.size();
  if (!marks.empty()) {
    VkQueryPoolCreateInfo qpi{};
    qpi.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
    qpi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qpi.queryCount = static_cast<uint32_t>(2 * marks.size());
    VkQueryPool qp = VK_NULL_HANDLE;
    KILN_RETURN_IF_ERROR(
        vk_check(vkCreateQueryPool(device_, &qpi, nullptr, &qp), "vkCreateQueryPool"));
    rec->queries = VkQueryPoolHandle(device_, qp);
    rec->query_count = qpi.queryCount;
  }
  // Timestamp queries to write before / after dispatch i.
  std::vector<std::vector<uint32_t>> ts_before(list.size()), ts_after(list.size());
  for (size_t m = 0; m < marks.size(); ++m) {
    if (marks[m].first > marks[m].last || marks[m].last >= list.size())
      return internal_error("a timing mark lies outside the dispatch list");
    ts_before[marks[m].first].push_back(static_cast<uint32_t>(2 * m));
    ts_after[marks[m].last].push_back(static_cast<uint32_t>(2 * m + 1));
  }
  uint32_t descriptors = 0;
  for (const auto& d : list) descriptors += static_cast<uint32_t>(d.bindings.size());
  VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, std::max<uint32_t>(descriptors, 1)};
  VkDescriptorPoolCreateInfo dpi{};
  dpi.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
  dpi.maxSets = static_cast<uint32_t>(list.size());
  dpi.poolSizeCount = 1;
  dpi.pPoolSizes = &ps;
  VkDescriptorPool dp = VK_NULL_HANDLE;
  KILN_RETURN_IF_ERROR(
      vk_check(vkCreateDescriptorPool(device_, &dpi, nullptr, &dp), "vkCreateDescriptorPool"));
  rec->pool = VkDescriptorPoolHandle(device_, dp);
  std::vector<VkDescriptorSetLayout> layouts;
  for (const auto& d : list) layouts.push_back(d.pipe->set_layout.get());
  std::vector<VkDescriptorSet> sets(list.size());
  VkDescriptorSetAllocateInfo dsa{};
  dsa.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
  dsa.descriptorPool = dp;
  dsa.descriptorSetCount = static_cast<uint32_t>(layouts.size());
  dsa.pSetLayouts = layouts.data();
  KILN_RETURN_IF_ERROR(
      vk_check(vkAllocateDescriptorSets(device_, &dsa, sets.data()), "vkAllocateDescriptorSets"));
  std::vector<VkDescriptorBufferInfo> infos(descriptors);
  std::vector<VkWriteDescriptorSet> writes(descriptors);
  size_t w = 0;
  for (size_t i = 0; i < list.size(); ++i)
    for (size_t k = 0; k < list[i].bindings.size(); ++k, ++w) {
      const VkBinding& b = list[i].bindings[k];
      infos[w] = {b.buffer, b.offset, b.range};
      writes[w].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
      writes[w].dstSet = sets[i];
      writes[w].dstBinding = static_cast<uint32_t>(k);
      writes[w].descriptorCount = 1;
      writes[w].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      writes[w].pBufferInfo = &infos[w];
    }
  vkUpdateDescriptorSets(device_, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);

  VkCommandBufferAllocateInfo cai{};
  cai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  cai.commandPool = command_pool_.get();
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  KILN_RETURN_IF_ERROR(
      vk_check(vkAllocateCommandBuffers(device_, &cai, &rec->cb), "vkAllocateCommandBuffers"));
  VkCommandBufferBeginInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  KILN_RETURN_IF_ERROR(vk_check(vkBeginCommandBuffer(rec->cb, &bi), "vkBeginCommandBuffer"));
  if (rec->queries) vkCmdResetQueryPool(rec->cb, rec->queries.get(), 0, rec->query_count);

  // Hazards since the last barrier: byte ranges written and read, per buffer.
  struct Range {
    VkBuffer buf;
    VkDeviceSize b, e;
  };
  std::vector<Range> written, read;
  auto overlaps = [](const std::vector<Range>& v, const VkBinding& x) {
    for (const Range& r : v)
      if (r.buf == x.buffer && r.b < x.end && x.begin < r.e) return true;
    return false;
  };
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  VkPipeline bound = VK_NULL_HANDLE;
  for (size_t i = 0; i < list.size(); ++i) {
    const VkDispatch& d = list[i];
    bool hazard = false;
    for (const VkBinding& b : d.bindings)
      hazard |= overlaps(written, b) || (b.write && overlaps(read, b));
    if (hazard) {
      vkCmdPipelineBarrier(rec->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                           VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
      written.clear();
      read.clear();
    }
    for (const VkBinding& b : d.bindings)
      (b.write ? written : read).push_back({b.buffer, b.begin, b.end});
    // A timestamp at the bottom of the pipe waits for every earlier command: intervals of
    // consecutive marks never overlap.
    for (uint32_t q : ts_before[i])
      vkCmdWriteTimestamp(rec->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, rec->queries.get(), q);
    if (bound != d.pipe->pipeline.get()) {
      bound = d.pipe->pipeline.get();
      vkCmdBindPipeline(rec->cb, VK_PIPELINE_BIND_POINT_COMPUTE, bound);
    }
    vkCmdBindDescriptorSets(rec->cb, VK_PIPELINE_BIND_POINT_COMPUTE, d.pipe->layout.get(), 0, 1,
                            &sets[i], 0, nullptr);
    vkCmdPushConstants(rec->cb, d.pipe->layout.get(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                       kPushWords * sizeof(uint32_t), d.push.data());
    vkCmdDispatch(rec->cb, d.groups[0], d.groups[1], d.groups[2]);
    for (uint32_t q : ts_after[i])
      vkCmdWriteTimestamp(rec->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, rec->queries.get(), q);
  }
  // Shader writes become visible to the host (downloads) and to transfers.
  VkMemoryBarrier hb{};
  hb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  hb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  hb.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT;
  vkCmdPipelineBarrier(rec->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &hb, 0,
                       nullptr, 0, nullptr);
  KILN_RETURN_IF_ERROR(vk_check(vkEndCommandBuffer(rec->cb), "vkEndCommandBuffer"));
  return rec;
}

Status VkContext::submit_and_wait(VkCommandBuffer cb) {
  VkSubmitInfo si{};
  si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb;
  VkFence f = fence_.get();
  KILN_RETURN_IF_ERROR(vk_check(vkQueueSubmit(queue_, 1, &si, f), "vkQueueSubmit"));
  VkResult r = vkWaitForFences(device_, 1, &f, VK_TRUE, 120ull * 1000 * 1000 * 1000);
  if (r == VK_TIMEOUT) return runtime_error("the Vulkan device did not finish within 120 s");
  KILN_RETURN_IF_ERROR(vk_check(r, "waiting for the Vulkan queue"));
  return vk_check(vkResetFences(device_, 1, &f), "vkResetFences");
}

Status VkContext::flush() {
  std::lock_guard<std::mutex> l(mu_);
  if (pending_.empty()) return Status::ok();
  if (pool_->take_blocks_released()) drop_recordings();  // recordings may name freed buffers
  std::vector<VkDispatch> list = std::move(pending_);
  pending_.clear();
  std::vector<Mark> marks;
  if (timing_) marks = std::move(marks_);
  marks_.clear();
  open_first_ = 0;  // a mark still open continues in the next list
  // The key: everything the recorded commands depend on.
  std::string key;
  key.reserve(list.size() * 200);
  auto put = [&key](const void* p, size_t n) { key.append(static_cast<const char*>(p), n); };
  for (const VkDispatch& d : list) {
    const VkPipeline p = d.pipe->pipeline.get();
    put(&p, sizeof(p));
    for (const VkBinding& b : d.bindings) {
      put(&b.buffer, sizeof(b.buffer));
      put(&b.offset, sizeof(b.offset));
      put(&b.range, sizeof(b.range));
      put(&b.begin, sizeof(b.begin));
      put(&b.end, sizeof(b.end));
      key += b.write ? 'w' : 'r';
    }
    put(d.push.data(), sizeof(uint32_t) * kPushWords);
    put(d.groups, sizeof(d.groups));
  }
  // Timed lists write timestamps: a recording of their own.
  for (const Mark& m : marks) {
    key += 't';
    put(&m.first, sizeof(m.first));
    put(&m.last, sizeof(m.last));
  }
  Recorded* rec = nullptr;
  auto it = recorded_.find(key);
  if (it != recorded_.end()) {
    rec = it->second.get();
    ++replays_;
    lru_.remove(key);
  } else {
    KILN_ASSIGN_OR_RETURN(auto r, record(list, marks));
    rec = r.get();
    recorded_[key] = std::move(r);
    ++recordings_;
    constexpr size_t kMaxRecorded = 64;
    while (lru_.size() >= kMaxRecorded) {
      auto old = recorded_.find(lru_.back());
      if (old != recorded_.end()) {
        if (old->second->cb != VK_NULL_HANDLE)
          vkFreeCommandBuffers(device_, command_pool_.get(), 1, &old->second->cb);
        recorded_.erase(old);
      }
      lru_.pop_back();
    }
  }
  lru_.push_front(key);
  dispatches_ += list.size();
  KILN_RETURN_IF_ERROR(submit_and_wait(rec->cb));
  return marks.empty() ? Status::ok() : read_timestamps(*rec, marks);
}

Status VkContext::read_timestamps(const Recorded& rec, const std::vector<Mark>& marks) {
  if (!rec.queries || rec.query_count != 2 * marks.size())
    return internal_error("a timed command buffer has no timestamp queries");
  std::vector<uint64_t> ticks(rec.query_count);
  KILN_RETURN_IF_ERROR(vk_check(
      vkGetQueryPoolResults(device_, rec.queries.get(), 0, rec.query_count,
                            ticks.size() * sizeof(uint64_t), ticks.data(), sizeof(uint64_t),
                            VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
      "vkGetQueryPoolResults"));
  const uint64_t mask = timestamp_bits_ >= 64 ? ~uint64_t{0} : (uint64_t{1} << timestamp_bits_) - 1;
  for (size_t m = 0; m < marks.size(); ++m) {
    const uint64_t a = ticks[2 * m] & mask, b = ticks[2 * m + 1] & mask;
    device::DeviceTiming t;
    t.tag = marks[m].tag;
    t.start_ns = static_cast<uint64_t>(static_cast<double>(a) * timestamp_period_);
    // A counter that wrapped inside the interval: its length modulo the counter's range.
    const uint64_t len = (b - a) & mask;
    t.end_ns = t.start_ns + static_cast<uint64_t>(static_cast<double>(len) * timestamp_period_);
    timings_.push_back(t);
  }
  return Status::ok();
}

Status VkContext::set_timing(bool on) {
  if (on && !supports_timing())
    return unsupported(name() + ": the compute queue has no timestamps");
  KILN_RETURN_IF_ERROR(flush());  // work enqueued before the switch keeps the old setting
  std::lock_guard<std::mutex> l(mu_);
  timing_ = on;
  marks_.clear();
  open_tag_ = -1;
  return Status::ok();
}

void VkContext::mark_begin(int tag) {
  std::lock_guard<std::mutex> l(mu_);
  if (!timing_) return;
  open_tag_ = tag;
  open_first_ = pending_.size();
}

void VkContext::mark_end(int tag) {
  std::lock_guard<std::mutex> l(mu_);
  if (!timing_ || open_tag_ != tag) return;
  open_tag_ = -1;
  if (pending_.size() > open_first_) marks_.push_back({tag, open_first_, pending_.size() - 1});
}

std::vector<device::DeviceTiming> VkContext::take_timings() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<device::DeviceTiming> out = std::move(timings_);
  timings_.clear();
  return out;
}

Status VkContext::staging_copy(VkBuffer dst, VkDeviceSize dst_off, const void* src,
                               VkBuffer src_buf, VkDeviceSize src_off, void* out, size_t bytes) {
  // A host-visible temporary buffer and one copy command (devices whose memory is not mapped).
  VkBufferCreateInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  bi.size = bytes;
  bi.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  VkBuffer sb = VK_NULL_HANDLE;
  KILN_RETURN_IF_ERROR(vk_check(vkCreateBuffer(device_, &bi, nullptr, &sb), "staging buffer"));
  VkBufferHandle sbuf(device_, sb);
  VkMemoryRequirements req{};
  vkGetBufferMemoryRequirements(device_, sb, &req);
  VkPhysicalDeviceMemoryProperties mp{};
  vkGetPhysicalDeviceMemoryProperties(physical_, &mp);
  const VkMemoryPropertyFlags hv =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int type = -1;
  for (uint32_t i = 0; i < mp.memoryTypeCount && type < 0; ++i)
    if ((req.memoryTypeBits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & hv) == hv)
      type = static_cast<int>(i);
  if (type < 0) return unsupported("the Vulkan device has no host-visible memory for transfers");
  VkMemoryAllocateInfo ai{};
  ai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = static_cast<uint32_t>(type);
  VkDeviceMemory m = VK_NULL_HANDLE;
  KILN_RETURN_IF_ERROR(vk_check(vkAllocateMemory(device_, &ai, nullptr, &m), "staging memory"));
  VkMemoryHandle mem(device_, m);
  KILN_RETURN_IF_ERROR(vk_check(vkBindBufferMemory(device_, sb, m, 0), "vkBindBufferMemory"));
  void* p = nullptr;
  KILN_RETURN_IF_ERROR(vk_check(vkMapMemory(device_, m, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory"));
  if (src) std::memcpy(p, src, bytes);
  VkCommandBufferAllocateInfo cai{};
  cai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  cai.commandPool = command_pool_.get();
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  KILN_RETURN_IF_ERROR(vk_check(vkAllocateCommandBuffers(device_, &cai, &cb), "command buffer"));
  VkCommandBufferBeginInfo cbi{};
  cbi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  cbi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vkBeginCommandBuffer(cb, &cbi);
  VkBufferCopy region{};
  region.size = bytes;
  if (src) {
    region.dstOffset = dst_off;
    vkCmdCopyBuffer(cb, sb, dst, 1, &region);
  } else {
    region.srcOffset = src_off;
    vkCmdCopyBuffer(cb, src_buf, sb, 1, &region);
  }
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT;
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb,
                       0, nullptr, 0, nullptr);
  vkEndCommandBuffer(cb);
  Status st = submit_and_wait(cb);
  vkFreeCommandBuffers(device_, command_pool_.get(), 1, &cb);
  if (st.is_ok() && out) std::memcpy(out, p, bytes);
  vkUnmapMemory(device_, m);
  return st;
}

Status VkContext::write(const device::DeviceTensor& dst, const void* src, size_t bytes) {
  KILN_RETURN_IF_ERROR(flush());  // earlier dispatches may still read these bytes
  auto* a = dynamic_cast<VkAllocation*>(dst.buffer.get());
  if (!a) return internal_error("upload: the destination is not Vulkan memory");
  if (dst.offset + bytes > a->size()) return internal_error("upload past the end of a buffer");
  if (bytes == 0) return Status::ok();
  if (a->mapped()) {
    std::memcpy(a->mapped() + a->base() + dst.offset, src, bytes);
    return Status::ok();
  }
  std::lock_guard<std::mutex> l(mu_);
  return staging_copy(a->buffer(), a->base() + dst.offset, src, VK_NULL_HANDLE, 0, nullptr, bytes);
}

Status VkContext::read(const device::DeviceTensor& src, void* dst, size_t bytes) {
  KILN_RETURN_IF_ERROR(flush());
  auto* a = dynamic_cast<VkAllocation*>(src.buffer.get());
  if (!a) return internal_error("download: the source is not Vulkan memory");
  if (src.offset + bytes > a->size()) return internal_error("download past the end of a buffer");
  if (bytes == 0) return Status::ok();
  if (a->mapped()) {
    std::memcpy(dst, a->mapped() + a->base() + src.offset, bytes);
    return Status::ok();
  }
  std::lock_guard<std::mutex> l(mu_);
  return staging_copy(VK_NULL_HANDLE, 0, nullptr, a->buffer(), a->base() + src.offset, dst, bytes);
}

}  // namespace kiln::vulkan
