// One Vulkan device opened for kiln: instance (with the Khronos validation layer and a
// debug-utils messenger when KILN_VK_VALIDATION=1), device and compute queue, pipelines per
// shader variant (with a VkPipelineCache kept on disk), device memory sub-allocated from large
// blocks, and the command recorder: dispatches are appended to a pending list and flushed as one
// command buffer with barriers only where a dispatch touches bytes an earlier one wrote (or
// writes bytes an earlier one read). A flushed list is kept, recorded, in a bounded cache keyed
// by its pipelines, buffer ranges and push constants, so a repeated run with the same memory
// plan submits the already-recorded command buffer. With timing on, the recorder writes
// timestamp queries around each marked group of dispatches (the marks are part of the cache key,
// so a replayed command buffer still writes them) and flush() reads them back. Bindings may cover
// a window of a tensor, so kernels can split work on tensors above maxStorageBufferRange (or
// KILN_VK_MAX_BINDING_BYTES, a lower limit for tests). Every Vulkan handle is owned by an RAII
// wrapper.
#pragma once

#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/device/backend.h"
#include "runtime/vulkan/device_info.h"

namespace kiln::vulkan {

// "VK_ERROR_DEVICE_LOST (-4)" for messages.
std::string vk_result_string(VkResult r);

// A device-level handle destroyed with `Destroy(device, handle, nullptr)`. Move-only.
template <typename H, auto Destroy>
class DeviceHandle {
 public:
  DeviceHandle() = default;
  DeviceHandle(VkDevice d, H h) : dev_(d), h_(h) {}
  DeviceHandle(DeviceHandle&& o) noexcept : dev_(o.dev_), h_(o.h_) { o.h_ = VK_NULL_HANDLE; }
  DeviceHandle& operator=(DeviceHandle&& o) noexcept {
    if (this != &o) {
      reset();
      dev_ = o.dev_;
      h_ = o.h_;
      o.h_ = VK_NULL_HANDLE;
    }
    return *this;
  }
  DeviceHandle(const DeviceHandle&) = delete;
  DeviceHandle& operator=(const DeviceHandle&) = delete;
  ~DeviceHandle() { reset(); }
  void reset() {
    if (h_ != VK_NULL_HANDLE) Destroy(dev_, h_, nullptr);
    h_ = VK_NULL_HANDLE;
  }
  H get() const { return h_; }
  explicit operator bool() const { return h_ != VK_NULL_HANDLE; }

 private:
  VkDevice dev_ = VK_NULL_HANDLE;
  H h_ = VK_NULL_HANDLE;
};

using VkBufferHandle = DeviceHandle<VkBuffer, vkDestroyBuffer>;
using VkMemoryHandle = DeviceHandle<VkDeviceMemory, vkFreeMemory>;
using VkShaderModuleHandle = DeviceHandle<VkShaderModule, vkDestroyShaderModule>;
using VkSetLayoutHandle = DeviceHandle<VkDescriptorSetLayout, vkDestroyDescriptorSetLayout>;
using VkPipelineLayoutHandle = DeviceHandle<VkPipelineLayout, vkDestroyPipelineLayout>;
using VkPipelineHandle = DeviceHandle<VkPipeline, vkDestroyPipeline>;
using VkPipelineCacheHandle = DeviceHandle<VkPipelineCache, vkDestroyPipelineCache>;
using VkDescriptorPoolHandle = DeviceHandle<VkDescriptorPool, vkDestroyDescriptorPool>;
using VkCommandPoolHandle = DeviceHandle<VkCommandPool, vkDestroyCommandPool>;
using VkFenceHandle = DeviceHandle<VkFence, vkDestroyFence>;
using VkQueryPoolHandle = DeviceHandle<VkQueryPool, vkDestroyQueryPool>;

// Optional device features kiln enabled because the device has them.
struct VkFeatures {
  bool storage_16bit = false;
  bool storage_8bit = false;
  bool float16 = false;
  bool int8 = false;
  bool int16 = false;
  bool subgroups = false;  // basic + arithmetic in compute shaders
  // shaderIntegerDotProduct (Vulkan 1.3 or VK_KHR_shader_integer_dot_product): the packed
  // 4 x 8-bit OpUDot / OpSDot in shaders (the int8 GEMM's dot-product variant).
  bool integer_dot_product = false;
  // VK_KHR_cooperative_matrix is present (detected and reported; no shader uses it yet).
  bool cooperative_matrix = false;
  // uint8 storage with 8-bit arithmetic: bool tensors in shaders.
  bool bytes() const { return storage_8bit && int8; }
  // uint16 storage (float16 tensors moved as raw bits); gathers also need 16-bit arithmetic.
  bool halves() const { return storage_16bit; }
};

// One compute pipeline for a shader variant and workgroup size.
struct VkPipelineEntry {
  std::string name;
  uint32_t bindings = 0;
  VkShaderModuleHandle module;
  VkSetLayoutHandle set_layout;
  VkPipelineLayoutHandle layout;
  VkPipelineHandle pipeline;
};

// Push constants: words 0..3 are the element offsets of bindings 0..3 (filled at enqueue); the
// rest are the shader's parameters. 128 bytes is the minimum every device guarantees.
constexpr uint32_t kPushWords = 32;
using PushWords = std::array<uint32_t, kPushWords>;

// One tensor bound to a dispatch.
struct VkBinding {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0, range = 0;  // the descriptor's range (offset aligned down)
  VkDeviceSize begin = 0, end = 0;     // the bytes the dispatch may touch (hazard tracking)
  bool write = false;
  std::shared_ptr<device::DeviceBuffer> keep;  // alive until the dispatch has run
};

struct VkDispatch {
  const VkPipelineEntry* pipe = nullptr;
  std::vector<VkBinding> bindings;
  PushWords push{};
  uint32_t groups[3] = {1, 1, 1};
};

class MemoryPool;

// A sub-allocation of a device memory block.
class VkAllocation : public device::DeviceBuffer {
 public:
  VkAllocation(std::shared_ptr<MemoryPool> pool, int block, VkBuffer buffer, VkDeviceSize base,
               VkDeviceSize size, uint8_t* mapped)
      : pool_(std::move(pool)),
        block_(block),
        buffer_(buffer),
        base_(base),
        size_(size),
        mapped_(mapped) {}
  ~VkAllocation() override;
  size_t size() const override { return static_cast<size_t>(size_); }
  VkBuffer buffer() const { return buffer_; }
  VkDeviceSize base() const { return base_; }  // byte offset of this allocation in buffer()
  uint8_t* mapped() const { return mapped_; }  // host pointer to byte 0, or nullptr

 private:
  std::shared_ptr<MemoryPool> pool_;
  int block_;
  VkBuffer buffer_;
  VkDeviceSize base_, size_;
  uint8_t* mapped_;
};

// Number of validation-layer (and driver) warnings and errors reported through the debug
// messenger since the process started, across all contexts. Tests require it to stay 0.
uint64_t validation_message_count();

class VkContext {
 public:
  // `spec`: "vulkan" (best device: discrete, integrated, virtual GPU, then CPU) or "vulkan:N"
  // (device N in `kiln devices` order).
  static Expected<std::unique_ptr<VkContext>> create(const std::string& spec);
  ~VkContext();
  VkContext(const VkContext&) = delete;
  VkContext& operator=(const VkContext&) = delete;

  std::string name() const;
  const VulkanDeviceInfo& info() const { return info_; }
  const VkFeatures& features() const { return features_; }
  VkDevice device() const { return device_; }
  bool validation_enabled() const { return validation_; }
  // The largest storage-buffer binding: maxStorageBufferRange, or KILN_VK_MAX_BINDING_BYTES
  // when that is set and smaller (tests lower it to run the split paths on small tensors).
  uint64_t max_binding_bytes() const { return max_binding_; }
  // The largest tensor window a kernel may bind: max_binding_bytes() less the descriptor offset
  // alignment slack.
  uint64_t max_window_bytes() const;

  // The pipeline of shader variant `variant` (see shaders/CMakeLists.txt) with `bindings`
  // storage buffers, workgroup size (lx, ly) as specialization constants 0 and 1 and `spec[i]` as
  // constant_id 2 + i (shape values known at plan time; a shader reads 0 as "take the push
  // constant"). Pipelines are cached per (variant, bindings, lx, ly, spec) and built through the
  // on-disk VkPipelineCache.
  Expected<const VkPipelineEntry*> pipeline(const std::string& variant, uint32_t bindings,
                                            uint32_t lx, uint32_t ly = 1,
                                            const std::vector<uint32_t>& spec = {});
  // How many pipelines of shader variant `variant` were built (one per workgroup size and
  // specialization values; tests).
  size_t pipelines_built(const std::string& variant);
  // Whether ops pass plan-time shape values as specialization constants (default on;
  // KILN_VK_SPECIALIZE=0 keeps them all in push constants, for comparison and tests).
  bool specialize() const { return specialize_; }

  Expected<std::shared_ptr<device::DeviceBuffer>> allocate(size_t bytes);

  // The binding for `t` (its allocation, aligned-down descriptor offset) and the element offset
  // of the tensor's first element inside the bound range. With a window, only elements
  // [win_begin, win_begin + win_count) are bound (win_count < 0: to the end), and *elem_offset is
  // where tensor element `origin` sits relative to the bound range, modulo 2^32: a shader adding
  // its (origin-relative) index to it in uint arithmetic lands inside the window.
  Expected<VkBinding> bind(const device::DeviceTensor& t, size_t elem_size, bool write,
                           uint32_t* elem_offset, int64_t win_begin = 0, int64_t win_count = -1,
                           int64_t origin = 0) const;

  // Appends a dispatch to the pending list (no Vulkan call).
  void enqueue(VkDispatch d);
  // Submits the pending list (replaying its recorded command buffer when the same list ran
  // before) and waits for it.
  Status flush();
  // Blocking transfers (flush first).
  Status write(const device::DeviceTensor& dst, const void* src, size_t bytes);
  Status read(const device::DeviceTensor& src, void* dst, size_t bytes);

  // Device-clock timing (see device::Backend): timestamps are available on the compute queue.
  bool supports_timing() const { return timestamp_bits_ > 0; }
  Status set_timing(bool on);
  // Brackets the dispatches enqueued between the two calls (no Vulkan call).
  void mark_begin(int tag);
  void mark_end(int tag);
  // Intervals of the marks flushed since the last call, in nanoseconds.
  std::vector<device::DeviceTiming> take_timings();

  // Command buffers recorded vs submitted again from the cache (tests and `kiln bench`).
  uint64_t recordings() const { return recordings_; }
  uint64_t replays() const { return replays_; }
  uint64_t dispatches_submitted() const { return dispatches_; }

 private:
  struct Recorded;
  VkContext() = default;
  Status init(const std::string& spec);
  Status submit_and_wait(VkCommandBuffer cb);
  // A group of dispatches [first, last] of the pending list timed as `tag`.
  struct Mark {
    int tag = 0;
    size_t first = 0, last = 0;
  };
  Expected<std::unique_ptr<Recorded>> record(const std::vector<VkDispatch>& list,
                                             const std::vector<Mark>& marks);
  Status read_timestamps(const Recorded& rec, const std::vector<Mark>& marks);
  Status staging_copy(VkBuffer dst, VkDeviceSize dst_off, const void* src, VkBuffer src_buf,
                      VkDeviceSize src_off, void* out, size_t bytes);
  void save_pipeline_cache();
  void drop_recordings();

  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VulkanDeviceInfo info_;
  VkFeatures features_;
  VkPhysicalDeviceProperties props_{};
  bool validation_ = false;
  bool specialize_ = true;
  std::string cache_file_;
  uint64_t max_binding_ = 0;
  uint32_t timestamp_bits_ = 0;  // timestampValidBits of the compute queue family (0: none)
  double timestamp_period_ = 1;  // nanoseconds per tick

  VkPipelineCacheHandle pipeline_cache_;
  VkCommandPoolHandle command_pool_;
  VkFenceHandle fence_;
  std::shared_ptr<MemoryPool> pool_;

  std::mutex mu_;  // guards everything below
  std::map<std::string, std::unique_ptr<VkPipelineEntry>> pipelines_;
  std::vector<VkDispatch> pending_;
  bool timing_ = false;
  std::vector<Mark> marks_;  // closed marks of the pending list
  int open_tag_ = -1;        // the mark begun and not yet ended
  size_t open_first_ = 0;
  std::vector<device::DeviceTiming> timings_;
  std::map<std::string, std::unique_ptr<Recorded>> recorded_;
  std::list<std::string> lru_;  // most recently used first
  uint64_t recordings_ = 0, replays_ = 0, dispatches_ = 0;
};

}  // namespace kiln::vulkan
