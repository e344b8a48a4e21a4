// OpenCL device enumeration through the Khronos C++ bindings. Errors are error codes (the
// bindings are used without CL_HPP_ENABLE_EXCEPTIONS); anything thrown anyway is caught here.
#include "runtime/opencl/device_info.h"

#include <CL/opencl.hpp>
#include <exception>
#include <sstream>

namespace kiln::opencl {

namespace {

constexpr cl_int kPlatformNotFoundKhr = -1001;  // CL_PLATFORM_NOT_FOUND_KHR: no ICD installed

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  size_t b = 0;
  while (b < s.size() && s[b] == ' ') ++b;
  return s.substr(b);
}

std::string type_name(cl_device_type t) {
  std::string out;
  auto add = [&](cl_device_type bit, const char* name) {
    if (!(t & bit)) return;
    if (!out.empty()) out += '+';
    out += name;
  };
  add(CL_DEVICE_TYPE_GPU, "GPU");
  add(CL_DEVICE_TYPE_CPU, "CPU");
  add(CL_DEVICE_TYPE_ACCELERATOR, "Accelerator");
  add(CL_DEVICE_TYPE_CUSTOM, "Custom");
  return out.empty() ? "Unknown" : out;
}

template <cl_int Name, typename Object>
auto info(const Object& o, cl_int* err) {
  cl_int e = CL_SUCCESS;
  auto v = o.template getInfo<Name>(&e);
  if (e != CL_SUCCESS && *err == CL_SUCCESS) *err = e;
  return v;
}

bool has_ext(const std::vector<std::string>& exts, const char* name) {
  for (const auto& e : exts)
    if (e == name) return true;
  return false;
}

Expected<std::vector<OpenClDeviceInfo>> enumerate() {
  std::vector<cl::Platform> platforms;
  cl_int err = cl::Platform::get(&platforms);
  if (err == kPlatformNotFoundKhr || (err == CL_SUCCESS && platforms.empty()))
    return std::vector<OpenClDeviceInfo>{};
  if (err != CL_SUCCESS)
    return runtime_error("clGetPlatformIDs failed with error " + std::to_string(err));
  std::vector<OpenClDeviceInfo> out;
  for (size_t p = 0; p < platforms.size(); ++p) {
    cl_int perr = CL_SUCCESS;
    std::string pname = trim(info<CL_PLATFORM_NAME>(platforms[p], &perr));
    std::string pvendor = trim(info<CL_PLATFORM_VENDOR>(platforms[p], &perr));
    std::string pversion = trim(info<CL_PLATFORM_VERSION>(platforms[p], &perr));
    std::vector<cl::Device> devices;
    err = platforms[p].getDevices(CL_DEVICE_TYPE_ALL, &devices);
    if (err == CL_DEVICE_NOT_FOUND) continue;
    if (err != CL_SUCCESS)
      return runtime_error("clGetDeviceIDs on platform '" + pname + "' failed with error " +
                           std::to_string(err));
    for (size_t d = 0; d < devices.size(); ++d) {
      const cl::Device& dev = devices[d];
      cl_int derr = CL_SUCCESS;
      OpenClDeviceInfo di;
      di.index = static_cast<int>(out.size());
      di.platform_index = static_cast<int>(p);
      di.device_index = static_cast<int>(d);
      di.platform_name = pname;
      di.platform_vendor = pvendor;
      di.platform_version = pversion;
      di.name = trim(info<CL_DEVICE_NAME>(dev, &derr));
      di.vendor = trim(info<CL_DEVICE_VENDOR>(dev, &derr));
      di.vendor_id = info<CL_DEVICE_VENDOR_ID>(dev, &derr);
      di.device_version = trim(info<CL_DEVICE_VERSION>(dev, &derr));
      di.driver_version = trim(info<CL_DRIVER_VERSION>(dev, &derr));
      di.opencl_c_version = trim(info<CL_DEVICE_OPENCL_C_VERSION>(dev, &derr));
      di.type = type_name(info<CL_DEVICE_TYPE>(dev, &derr));
      di.global_mem_bytes = info<CL_DEVICE_GLOBAL_MEM_SIZE>(dev, &derr);
      di.local_mem_bytes = info<CL_DEVICE_LOCAL_MEM_SIZE>(dev, &derr);
      di.max_alloc_bytes = info<CL_DEVICE_MAX_MEM_ALLOC_SIZE>(dev, &derr);
      di.max_work_group_size = info<CL_DEVICE_MAX_WORK_GROUP_SIZE>(dev, &derr);
      di.compute_units = info<CL_DEVICE_MAX_COMPUTE_UNITS>(dev, &derr);
      di.max_clock_mhz = info<CL_DEVICE_MAX_CLOCK_FREQUENCY>(dev, &derr);
      std::istringstream exts(info<CL_DEVICE_EXTENSIONS>(dev, &derr));
      for (std::string e; exts >> e;) di.extensions.push_back(e);
      if (derr != CL_SUCCESS)
        return runtime_error("clGetDeviceInfo on device " + std::to_string(d) + " of platform '" +
                             pname + "' failed with error " + std::to_string(derr));
      di.fp16 = has_ext(di.extensions, "cl_khr_fp16");
      di.fp64 = has_ext(di.extensions, "cl_khr_fp64");
      di.subgroups = has_ext(di.extensions, "cl_khr_subgroups") ||
                     has_ext(di.extensions, "cl_intel_subgroups");
      di.integer_dot_product = has_ext(di.extensions, "cl_khr_integer_dot_product");
      di.command_buffer = has_ext(di.extensions, "cl_khr_command_buffer");
      out.push_back(std::move(di));
    }
  }
  return out;
}

}  // namespace

Expected<std::vector<OpenClDeviceInfo>> list_opencl_devices() {
  try {
    return enumerate();
#ifdef CL_HPP_ENABLE_EXCEPTIONS
  } catch (const cl::Error& e) {
    if (e.err() == kPlatformNotFoundKhr) return std::vector<OpenClDeviceInfo>{};
    return runtime_error(std::string("OpenCL error in ") + e.what() + ": " +
                         std::to_string(e.err()));
#endif
  } catch (const std::exception& e) {
    return runtime_error(std::string("OpenCL enumeration failed: ") + e.what());
  } catch (...) {
    return runtime_error("OpenCL enumeration failed with an unknown exception");
  }
}

}  // namespace kiln::opencl
