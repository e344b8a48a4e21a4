// The device side of kiln, shared by every backend (OpenCL, Vulkan): buffers, device tensors,
// kernels specialised to concrete shapes, and the Backend interface the hybrid executor drives.
//
// A Backend answers supports(node, inputs) with a reason when it says no; prepare() specialises
// one node to concrete input descriptions (choosing a variant, computing output shapes and launch
// geometry, building the program/pipeline); the resulting DeviceKernel only enqueues work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace kiln::device {

struct Support {
  bool ok = true;
  std::string reason;  // why not, when !ok
  static Support yes() { return {}; }
  static Support no(std::string why) { return {false, std::move(why)}; }
};

// Element type and concrete shape of a tensor.
struct TensorDesc {
  DType dtype = DType::kUndefined;
  Shape shape;
  int64_t numel() const { return numel_of(shape); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  bool operator==(const TensorDesc& o) const { return dtype == o.dtype && shape == o.shape; }
};
std::string desc_to_string(const TensorDesc& d);  // "float32[2, 3]"

// One device-clock interval measured by a backend (see Backend::set_timing).
struct DeviceTiming {
  int tag = 0;            // the tag given to mark_begin/mark_end
  uint64_t start_ns = 0;  // device clock, arbitrary origin
  uint64_t end_ns = 0;
};

// A device allocation. Backends subclass it; the executor only moves pointers around.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual size_t size() const = 0;
};

// A tensor living in a device buffer at a byte offset (dense, row-major). Views are free.
struct DeviceTensor {
  TensorDesc desc;
  std::shared_ptr<DeviceBuffer> buffer;
  size_t offset = 0;
};

// One node specialised to concrete shapes. enqueue() only records/enqueues work on the
// backend's queue; it never blocks and never allocates device memory.
class DeviceKernel {
 public:
  virtual ~DeviceKernel() = default;
  const std::vector<TensorDesc>& output_descs() const { return outputs_; }
  // Output i aliases input alias_of(i) (same bytes, e.g. Reshape): no allocation, no work.
  // -1 when the output needs its own buffer.
  int alias_of(size_t output) const { return output < aliases_.size() ? aliases_[output] : -1; }
  // Output o may be written over input inplace_of(o)'s bytes (-1: never). A kernel opts in only
  // when every work-item reads the elements it writes before writing them and reads no element
  // another work-item writes, and the two have the same byte size. The executor takes the offer
  // only when that input's value dies at this node (see hybrid_executor.h).
  int inplace_of(size_t output) const { return output < inplace_.size() ? inplace_[output] : -1; }
  // Bytes of device scratch memory one enqueue needs (0: none). The executor passes it as one
  // extra uint8[scratch_bytes()] tensor after the outputs, outputs[output_descs().size()]; its
  // contents are undefined on entry and dead once the work this enqueue adds has run.
  virtual size_t scratch_bytes() const { return 0; }
  virtual Status enqueue(const std::vector<DeviceTensor>& inputs,
                         const std::vector<DeviceTensor>& outputs) = 0;
  // A short name for profiles ("matmul_f32_8x4", "binary_add").
  virtual std::string name() const = 0;

 protected:
  // The scratch tensor enqueue() was given (see scratch_bytes), or nullptr.
  const DeviceTensor* scratch(const std::vector<DeviceTensor>& outputs) const {
    return outputs.size() > outputs_.size() && outputs[outputs_.size()].buffer
               ? &outputs[outputs_.size()]
               : nullptr;
  }

  std::vector<TensorDesc> outputs_;
  std::vector<int> aliases_;
  std::vector<int> inplace_;
};

// What the executor knows about one input when asking a backend: its description and, for
// small host-resident tensors (shape-like inputs such as Reshape's shape or Slice's starts),
// the values themselves.
struct InputInfo {
  TensorDesc desc;
  const Tensor* host_value = nullptr;  // set when the value is known on the host
  bool present = true;                 // false for an omitted optional input
};

class Backend {
 public:
  virtual ~Backend() = default;
  // "opencl:0 (pocl: cpu-...)" for logs.
  virtual std::string name() const = 0;
  // Inputs this op needs as host values (shape-like inputs), e.g. {1} for Reshape.
  virtual std::vector<int> host_inputs(const ir::Node& node) const = 0;
  virtual Support supports(const ir::Node& node, const std::vector<InputInfo>& inputs) const = 0;
  virtual Expected<std::unique_ptr<DeviceKernel>> prepare(const ir::Node& node,
                                                          const std::vector<InputInfo>& inputs) = 0;

  virtual Expected<std::shared_ptr<DeviceBuffer>> allocate(size_t bytes) = 0;
  // Blocking copies between host tensors and device tensors (same desc).
  virtual Status upload(const Tensor& src, const DeviceTensor& dst) = 0;
  virtual Status download(const DeviceTensor& src, Tensor* dst) = 0;
  // Waits until all enqueued work is done; reports asynchronous errors.
  virtual Status finish() = 0;

  // Device-clock timing (OpenCL profiling events, Vulkan timestamp queries). While timing is on,
  // the executor calls mark_begin(tag) before and mark_end(tag) after the work one node enqueues;
  // after finish(), take_timings() returns one interval per begin/end pair (the first enqueued
  // command's start to the last one's end; a pair with no work between gives no interval) and
  // forgets them. Backends without a device clock keep the defaults, and the executor then times
  // nodes synchronously on the host.
  virtual bool supports_timing() const { return false; }
  virtual Status set_timing(bool on) {
    return on ? unsupported(name() + ": no device timing") : Status::ok();
  }
  virtual void mark_begin(int tag) { (void)tag; }
  virtual void mark_end(int tag) { (void)tag; }
  virtual Expected<std::vector<DeviceTiming>> take_timings() { return std::vector<DeviceTiming>{}; }
  // Peak figures for roofline shares (0 when unknown): FP32 GFLOP/s and memory GB/s.
  virtual double peak_gflops() const { return 0; }
  virtual double peak_gbytes_s() const { return 0; }
};

}  // namespace kiln::device
