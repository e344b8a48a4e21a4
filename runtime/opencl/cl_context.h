// One OpenCL device opened for kiln: context, in-order queue, and a program cache (in memory,
// and on disk keyed by device, driver version, source hash and build options, so a warm start
// builds nothing). Every OpenCL handle is owned by a Khronos C++ binding object (RAII).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "runtime/core/status.h"
#include "runtime/opencl/cl_common.h"
#include "runtime/opencl/device_info.h"

namespace kiln::opencl {

class ClContext {
 public:
  // `spec`: "opencl" (best device: GPU, then accelerator, then CPU) or "opencl:N" (device N in
  // the order `kiln devices` lists them).
  static Expected<std::unique_ptr<ClContext>> create(const std::string& spec);

  cl::Context& context() { return context_; }
  cl::Device& device() { return device_; }
  cl::CommandQueue& queue() { return queue_; }
  const OpenClDeviceInfo& info() const { return info_; }
  std::string name() const;

  // The program built from kernels/<source>.cl with `options`: from memory, from the disk cache,
  // or compiled (build failures return the compiler log).
  Expected<cl::Program> program(const std::string& source, const std::string& options);
  // A new kernel object (kernels carry their arguments, so each user gets its own).
  Expected<cl::Kernel> kernel(const std::string& source, const std::string& options,
                              const std::string& kernel_name);

  // Statistics for `kiln bench` and tests.
  int programs_built() const { return built_; }
  int programs_loaded_from_disk() const { return loaded_; }

 private:
  ClContext() = default;
  cl::Context context_;
  cl::Device device_;
  cl::CommandQueue queue_;
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
