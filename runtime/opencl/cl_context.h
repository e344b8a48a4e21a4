// One OpenCL device opened for kiln: context, in-order queue, and a program cache (in memory,
// and on disk keyed by device, driver version, source hash and build options, so a warm start
// builds nothing). Every OpenCL handle is owned by a Khronos C++ binding object (RAII).
//
// Device-clock timing: the queue is created with CL_QUEUE_PROFILING_ENABLE (it costs nothing
// measurable on PoCL while no events are asked for). Every kernel launch in runtime/opencl goes
// through ClQueue::enqueueNDRangeKernel (the queue() accessor returns a ClQueue); while a timing
// tag is set (set_timing_tag), that call asks for an event and files it under the tag, and
// take_timed_events() hands the events back for CL_PROFILING_COMMAND_START/END after a finish.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/opencl/cl_common.h"
#include "runtime/opencl/device_info.h"

namespace kiln::opencl {

// Events of the kernels enqueued while a timing tag was set, in enqueue order.
struct ClTimingLog {
  std::mutex mu;
  int tag = -1;  // -1: not recording
  std::vector<std::pair<int, cl::Event>> events;
};

// The command queue with kernel launches that record an event while a timing tag is set. Only
// enqueueNDRangeKernel is intercepted (it hides the base class's function of the same signature);
// transfers are not kernels and stay untimed.
class ClQueue : public cl::CommandQueue {
 public:
  ClQueue() = default;
  cl_int enqueueNDRangeKernel(const cl::Kernel& kernel, const cl::NDRange& offset,
                              const cl::NDRange& global, const cl::NDRange& local = cl::NullRange,
                              const std::vector<cl::Event>* events = nullptr,
                              cl::Event* event = nullptr) const;

 private:
  friend class ClContext;
  ClTimingLog* log_ = nullptr;
};

class ClContext {
 public:
  // `spec`: "opencl" (best device: GPU, then accelerator, then CPU) or "opencl:N" (device N in
  // the order `kiln devices` lists them).
  static Expected<std::unique_ptr<ClContext>> create(const std::string& spec);

  cl::Context& context() { return context_; }
  cl::Device& device() { return device_; }
  ClQueue& queue() { return queue_; }
  const OpenClDeviceInfo& info() const { return info_; }
  std::string name() const;

  // The program built from kernels/<source>.cl with `options`: from memory, from the disk cache,
  // or compiled (build failures return the compiler log).
  Expected<cl::Program> program(const std::string& source, const std::string& options);
  // A new kernel object (kernels carry their arguments, so each user gets its own).
  Expected<cl::Kernel> kernel(const std::string& source, const std::string& options,
                              const std::string& kernel_name);

  // The program built from an OpenCL C source given as text (for measurement kernels that live
  // outside kernels/, such as the peak-FLOP loop); cached in memory under `name` only.
  Expected<cl::Program> program_from_text(const std::string& name, const std::string& text,
                                          const std::string& options);

  // Device-clock timing (see the file comment): kernels enqueued while `tag` >= 0 record events
  // under it; -1 stops recording. take_timed_events() returns and forgets the events.
  void set_timing_tag(int tag);
  std::vector<std::pair<int, cl::Event>> take_timed_events();

  // Statistics for `kiln bench` and tests.
  int programs_built() const { return built_; }
  int programs_loaded_from_disk() const { return loaded_; }

 private:
  ClContext() = default;
  cl::Context context_;
  cl::Device device_;
  ClQueue queue_;
  ClTimingLog timing_;
  OpenClDeviceInfo info_;
  std::mutex mu_;
  std::map<std::string, cl::Program> programs_;
  int built_ = 0;
  int loaded_ = 0;
};

// "CL_OUT_OF_RESOURCES (-5)" for messages.
std::string cl_error_name(cl_int err);

// Where compiled program binaries are kept: $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else
// ~/.cache/kiln ("" disables the disk cache: KILN_CACHE_DIR=off).
std::string kernel_cache_dir();

}  // namespace kiln::opencl
