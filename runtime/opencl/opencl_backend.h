// The OpenCL backend: device buffers, transfers, and a registry of OpenCL kernels per op.
// Each op family lives in its own runtime/opencl/ops_*.cpp file with its OpenCL C source in
// kernels/*.cl, and registers itself with one register_cl_*() call (see opencl_backend.cpp).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/device/backend.h"
#include "runtime/opencl/cl_context.h"

namespace kiln {
struct DevicePeaks;  // runtime/profile.h
}  // namespace kiln

namespace kiln::opencl {

using device::DeviceKernel;
using device::DeviceTensor;
using device::InputInfo;
using device::Support;
using device::TensorDesc;

// A device buffer owned by the OpenCL backend.
class ClBuffer : public device::DeviceBuffer {
 public:
  ClBuffer(cl::Buffer b, size_t size) : buffer_(std::move(b)), size_(size) {}
  size_t size() const override { return size_; }
  cl::Buffer& buffer() { return buffer_; }

 private:
  cl::Buffer buffer_;
  size_t size_;
};

// The cl::Buffer behind a device tensor.
inline cl::Buffer& cl_buffer(const DeviceTensor& t) {
  return static_cast<ClBuffer*>(t.buffer.get())->buffer();
}

// How the backend runs one op: which inputs it needs on the host, whether it can take a node
// with these inputs (and why not), and how to make the kernel for concrete shapes.
struct ClOpDef {
  std::vector<int> host_inputs;
  Support (*supports)(const ir::Node&, const std::vector<InputInfo>&) = nullptr;
  Expected<std::unique_ptr<DeviceKernel>> (*prepare)(ClContext&, const ir::Node&,
                                                     const std::vector<InputInfo>&) = nullptr;
};

class ClOpRegistry {
 public:
  void add(const std::string& op, ClOpDef def) { ops_[op] = std::move(def); }
  const ClOpDef* find(const std::string& op) const {
    auto it = ops_.find(op);
    return it == ops_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> ops() const;

 private:
  std::map<std::string, ClOpDef> ops_;  // ai.onnx ops (and com.microsoft ops as "com.microsoft.X")
};

// One line per op family.
void register_cl_elementwise(ClOpRegistry& r);
void register_cl_matmul(ClOpRegistry& r);
void register_cl_reduce(ClOpRegistry& r);   // reductions, Softmax, LayerNormalization, Cast
void register_cl_data(ClOpRegistry& r);     // data movement and shape aliases
void register_cl_nn(ClOpRegistry& r);       // Conv, pools, Resize
void register_cl_contrib(ClOpRegistry& r);  // com.microsoft: Gelu family, skip norms, attention
void register_cl_quant(ClOpRegistry& r);    // int8: (De)QuantizeLinear, MatMulInteger...
void register_cl_qconv(ClOpRegistry& r);    // int8: ConvInteger, QLinearConv
void register_cl_fused(ClOpRegistry& r);    // ai.kiln FusedElementwise (generated per program)
const ClOpRegistry& cl_registry();

class OpenClBackend : public device::Backend {
 public:
  // `spec`: "opencl" or "opencl:N".
  static Expected<std::unique_ptr<OpenClBackend>> create(const std::string& spec);

  std::string name() const override { return ctx_->name(); }
  std::vector<int> host_inputs(const ir::Node& node) const override;
  Support supports(const ir::Node& node, const std::vector<InputInfo>& inputs) const override;
  Expected<std::unique_ptr<DeviceKernel>> prepare(const ir::Node& node,
                                                  const std::vector<InputInfo>& inputs) override;
  Expected<std::shared_ptr<device::DeviceBuffer>> allocate(size_t bytes) override;
  Status upload(const Tensor& src, const DeviceTensor& dst) override;
  Status download(const DeviceTensor& src, Tensor* dst) override;
  Status finish() override;

  // Device-clock timing from profiling events of the kernel launches (see cl_context.h).
  bool supports_timing() const override { return true; }
  Status set_timing(bool on) override;
  void mark_begin(int tag) override { ctx_->set_timing_tag(tag); }
  void mark_end(int tag) override;
  Expected<std::vector<device::DeviceTiming>> take_timings() override;

  ClContext& context() { return *ctx_; }

 private:
  std::unique_ptr<ClContext> ctx_;
};

// The device's peaks measured with kernels of its own, on the device clock: an FMA loop (float
// and float16 chains, the better of the two) and clEnqueueCopyBuffer over working sets from
// 192 KiB to 48 MiB (bytes read + written). Merged with measure_backend_peaks by `kiln bench`.
Expected<DevicePeaks> measure_opencl_peaks(OpenClBackend& backend);

// Helpers for kernel implementations ---------------------------------------------------------

// A kernel made of one cl::Kernel launch. Its first arguments are (buffer, element offset)
// pairs: one per node input listed in `buffer_inputs`, then one per output; the fixed
// arguments (shapes, op codes) follow and are set once in the subclass constructor through
// set_fixed(i, value), i counting from 0 after the buffer pairs.
class ClLaunchKernel : public DeviceKernel {
 public:
  ClLaunchKernel(cl::Kernel k, std::string name, std::vector<int> buffer_inputs, size_t num_outputs,
                 ClContext& ctx)
      : ctx_(ctx),
        kernel_(std::move(k)),
        name_(std::move(name)),
        buffer_inputs_(std::move(buffer_inputs)),
        num_outputs_(num_outputs) {}
  Status enqueue(const std::vector<DeviceTensor>& inputs,
                 const std::vector<DeviceTensor>& outputs) override;
  std::string name() const override { return name_; }

 protected:
  template <typename T>
  void set_fixed(cl_uint i, const T& value) {
    cl_int err =
        kernel_.setArg(2 * static_cast<cl_uint>(buffer_inputs_.size() + num_outputs_) + i, value);
    if (err != CL_SUCCESS && setup_error_.is_ok())
      setup_error_ = internal_error(name_ + ": setArg(" + std::to_string(i) +
                                    ") failed: " + cl_error_name(err));
  }

  ClContext& ctx_;
  cl::Kernel kernel_;
  std::string name_;
  std::vector<int> buffer_inputs_;
  size_t num_outputs_;
  cl::NDRange global_;
  cl::NDRange local_ = cl::NullRange;
  Status setup_error_;  // a failed set_fixed, reported by enqueue
};

// Rounds n up to a multiple of m (PoCL has no non-uniform work-groups).
inline size_t round_up(size_t n, size_t m) {
  return (n + m - 1) / m * m;
}

}  // namespace kiln::opencl
