// Enumeration of OpenCL platforms and devices and the capabilities kiln cares about. Used by
// `kiln devices` and by the OpenCL backend to pick a device. Never throws: a machine without an
// OpenCL driver (no ICD) gives an empty list, other driver failures an error Status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/status.h"

namespace kiln::opencl {

struct OpenClDeviceInfo {
  int index = 0;           // position over all platforms in order: the N of `opencl:N`
  int platform_index = 0;  // which platform
  int device_index = 0;    // position within the platform
  std::string platform_name, platform_vendor, platform_version;
  std::string name, vendor, device_version, driver_version, opencl_c_version;
  std::string type;  // "GPU", "CPU", "Accelerator", "Custom" (joined with '+' if several)
  uint32_t vendor_id = 0;
  uint64_t global_mem_bytes = 0;
  uint64_t local_mem_bytes = 0;
  uint64_t max_alloc_bytes = 0;
  uint64_t max_work_group_size = 0;
  uint32_t compute_units = 0;
  uint32_t max_clock_mhz = 0;
  bool fp16 = false;                 // cl_khr_fp16
  bool fp64 = false;                 // cl_khr_fp64
  bool subgroups = false;            // cl_khr_subgroups or cl_intel_subgroups
  bool integer_dot_product = false;  // cl_khr_integer_dot_product
  bool command_buffer = false;       // cl_khr_command_buffer
  std::vector<std::string> extensions;
};

// Every device of every platform. Empty when there is no OpenCL platform.
Expected<std::vector<OpenClDeviceInfo>> list_opencl_devices();

}  // namespace kiln::opencl
