#include "runtime/opencl/cl_context.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/opencl/cl_sources.h"

namespace kiln::opencl {

namespace fs = std::filesystem;

std::string cl_error_name(cl_int err) {
  const char* n = "unknown";
  switch (err) {
    case CL_SUCCESS:
      n = "CL_SUCCESS";
      break;
    case CL_DEVICE_NOT_FOUND:
      n = "CL_DEVICE_NOT_FOUND";
      break;
    case CL_DEVICE_NOT_AVAILABLE:
      n = "CL_DEVICE_NOT_AVAILABLE";
      break;
    case CL_COMPILER_NOT_AVAILABLE:
      n = "CL_COMPILER_NOT_AVAILABLE";
      break;
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
      n = "CL_MEM_OBJECT_ALLOCATION_FAILURE";
      break;
    case CL_OUT_OF_RESOURCES:
      n = "CL_OUT_OF_RESOURCES";
      break;
    case CL_OUT_OF_HOST_MEMORY:
      n = "CL_OUT_OF_HOST_MEMORY";
      break;
    case CL_BUILD_PROGRAM_FAILURE:
      n = "CL_BUILD_PROGRAM_FAILURE";
      break;
    case CL_INVALID_VALUE:
      n = "CL_INVALID_VALUE";
      break;
    case CL_INVALID_BUFFER_SIZE:
      n = "CL_INVALID_BUFFER_SIZE";
      break;
    case CL_INVALID_BINARY:
      n = "CL_INVALID_BINARY";
      break;
    case CL_INVALID_BUILD_OPTIONS:
      n = "CL_INVALID_BUILD_OPTIONS";
      break;
    case CL_INVALID_KERNEL_NAME:
      n = "CL_INVALID_KERNEL_NAME";
      break;
    case CL_INVALID_KERNEL_ARGS:
      n = "CL_INVALID_KERNEL_ARGS";
      break;
    case CL_INVALID_ARG_INDEX:
      n = "CL_INVALID_ARG_INDEX";
      break;
    case CL_INVALID_ARG_VALUE:
      n = "CL_INVALID_ARG_VALUE";
      break;
    case CL_INVALID_ARG_SIZE:
      n = "CL_INVALID_ARG_SIZE";
      break;
    case CL_INVALID_WORK_GROUP_SIZE:
      n = "CL_INVALID_WORK_GROUP_SIZE";
      break;
    case CL_INVALID_WORK_ITEM_SIZE:
      n = "CL_INVALID_WORK_ITEM_SIZE";
      break;
    case CL_INVALID_GLOBAL_WORK_SIZE:
      n = "CL_INVALID_GLOBAL_WORK_SIZE";
      break;
    case CL_INVALID_MEM_OBJECT:
      n = "CL_INVALID_MEM_OBJECT";
      break;
    case CL_INVALID_COMMAND_QUEUE:
      n = "CL_INVALID_COMMAND_QUEUE";
      break;
    case CL_MISALIGNED_SUB_BUFFER_OFFSET:
      n = "CL_MISALIGNED_SUB_BUFFER_OFFSET";
      break;
    case -1001:
      n = "CL_PLATFORM_NOT_FOUND_KHR";
      break;
    default:
      break;
  }
  return std::string(n) + " (" + std::to_string(err) + ")";
}

std::string kernel_cache_dir() {
  if (const char* d = std::getenv("KILN_CACHE_DIR")) {
    std::string s = d;
    return s == "off" ? "" : s;
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/kiln";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/kiln";
  return "";
}

namespace {

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex(uint64_t v) {
  std::ostringstream os;
  os << std::hex << v;
  return os.str();
}

// Rank for "best device": GPU 0, accelerator 1, anything else 2.
int rank_of(const OpenClDeviceInfo& d) {
  if (d.type.find("GPU") != std::string::npos) return 0;
  if (d.type.find("Accelerator") != std::string::npos) return 1;
  return 2;
}

}  // namespace

std::string ClContext::name() const {
  return "opencl:" + std::to_string(info_.index) + " (" + info_.platform_name + ": " + info_.name +
         ")";
}

Expected<std::unique_ptr<ClContext>> ClContext::create(const std::string& spec) {
  KILN_ASSIGN_OR_RETURN(auto devices, list_opencl_devices());
  if (devices.empty()) return unsupported("no OpenCL device found (is an OpenCL ICD installed?)");
  const OpenClDeviceInfo* chosen = nullptr;
  if (spec == "opencl") {
    for (const auto& d : devices)
      if (!chosen || rank_of(d) < rank_of(*chosen)) chosen = &d;
  } else if (spec.rfind("opencl:", 0) == 0) {
    char* end = nullptr;
    long idx = std::strtol(spec.c_str() + 7, &end, 10);
    if (spec.size() == 7 || *end != '\0' || idx < 0)
      return invalid_argument("bad device '" + spec + "' (expected opencl or opencl:N)");
    if (idx >= static_cast<long>(devices.size()))
      return invalid_argument("device '" + spec + "' does not exist: " +
                              std::to_string(devices.size()) + " OpenCL device(s) found");
    chosen = &devices[static_cast<size_t>(idx)];
  } else {
    return invalid_argument("bad device '" + spec + "'");
  }
  std::vector<cl::Platform> platforms;
  cl::Platform::get(&platforms);
  if (chosen->platform_index >= static_cast<int>(platforms.size()))
    return runtime_error("OpenCL platform list changed while opening the device");
  std::vector<cl::Device> devs;
  platforms[chosen->platform_index].getDevices(CL_DEVICE_TYPE_ALL, &devs);
  if (chosen->device_index >= static_cast<int>(devs.size()))
    return runtime_error("OpenCL device list changed while opening the device");

  std::unique_ptr<ClContext> c(new ClContext());
  c->info_ = *chosen;
  c->device_ = devs[chosen->device_index];
  cl_int err = CL_SUCCESS;
  c->context_ = cl::Context(c->device_, nullptr, nullptr, nullptr, &err);
  if (err != CL_SUCCESS) return runtime_error("clCreateContext failed: " + cl_error_name(err));
  static_cast<cl::CommandQueue&>(c->queue_) =
      cl::CommandQueue(c->context_, c->device_, cl::QueueProperties::Profiling, &err);
  if (err != CL_SUCCESS) return runtime_error("clCreateCommandQueue failed: " + cl_error_name(err));
  c->queue_.log_ = &c->timing_;
  spdlog::info("OpenCL device: {}", c->name());
  return c;
}

Expected<cl::Program> ClContext::program(const std::string& source_name,
                                         const std::string& options) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = source_name + "|" + options;
  auto it = programs_.find(key);
  if (it != programs_.end()) return it->second;
  const char* src = find_cl_source(source_name);
  if (!src) return internal_error("no embedded OpenCL source 'kernels/" + source_name + ".cl'");
  const std::string full_options = "-cl-std=CL1.2 " + options;

  // Disk cache: the key covers the device, its driver, the source text and the options.
  std::string dir = kernel_cache_dir();
  std::string file;
  if (!dir.empty()) {
    uint64_t h = fnv1a(info_.platform_version + "|" + info_.name + "|" + info_.driver_version);
    h = fnv1a(src, h);
    h = fnv1a(full_options, h);
    file = dir + "/opencl-" + source_name + "-" + hex(h) + ".bin";
    std::ifstream f(file, std::ios::binary);
    if (f) {
      std::vector<unsigned char> bin((std::istreambuf_iterator<char>(f)),
                                     std::istreambuf_iterator<char>());
      cl_int err = CL_SUCCESS;
      cl::Program::Binaries bins{bin};
      std::vector<cl_int> status;
      cl::Program p(context_, {device_}, bins, &status, &err);
      if (err == CL_SUCCESS && p.build({device_}, full_options.c_str()) == CL_SUCCESS) {
        ++loaded_;
        programs_[key] = p;
        return p;
      }
      spdlog::debug("stale OpenCL binary cache entry {}: rebuilding", file);
    }
  }

  cl_int err = CL_SUCCESS;
  cl::Program p(context_, std::string(src), false, &err);
  if (err != CL_SUCCESS)
    return runtime_error("clCreateProgramWithSource(" + source_name +
                         ") failed: " + cl_error_name(err));
  err = p.build({device_}, full_options.c_str());
  if (err != CL_SUCCESS) {
    std::string log;
    p.getBuildInfo(device_, CL_PROGRAM_BUILD_LOG, &log);
    if (log.size() > 4000) log = log.substr(0, 4000) + "\n...";
    return runtime_error("building kernels/" + source_name + ".cl with '" + options +
                         "' failed: " + cl_error_name(err) + "\n" + log);
  }
  ++built_;
  if (!file.empty()) {
    std::vector<std::vector<unsigned char>> bins;
    if (p.getInfo(CL_PROGRAM_BINARIES, &bins) == CL_SUCCESS && bins.size() == 1 &&
        !bins[0].empty()) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      std::string tmp = file + ".tmp" + std::to_string(::getpid());
      std::ofstream o(tmp, std::ios::binary);
      o.write(reinterpret_cast<const char*>(bins[0].data()),
              static_cast<std::streamsize>(bins[0].size()));
      o.close();
      if (o) fs::rename(tmp, file, ec);
      if (ec) fs::remove(tmp, ec);
    }
  }
  programs_[key] = p;
  return p;
}

cl_int ClQueue::enqueueNDRangeKernel(const cl::Kernel& kernel, const cl::NDRange& offset,
                                     const cl::NDRange& global, const cl::NDRange& local,
                                     const std::vector<cl::Event>* events, cl::Event* event) const {
  const cl::CommandQueue& base = *this;
  if (!log_) return base.enqueueNDRangeKernel(kernel, offset, global, local, events, event);
  std::lock_guard<std::mutex> lock(log_->mu);
  if (log_->tag < 0) return base.enqueueNDRangeKernel(kernel, offset, global, local, events, event);
  cl::Event ev;
  cl_int err = base.enqueueNDRangeKernel(kernel, offset, global, local, events, &ev);
  if (err == CL_SUCCESS) {
    log_->events.emplace_back(log_->tag, ev);
    if (event) *event = ev;
  }
  return err;
}

void ClContext::set_timing_tag(int tag) {
  std::lock_guard<std::mutex> lock(timing_.mu);
  timing_.tag = tag < 0 ? -1 : tag;
}

std::vector<std::pair<int, cl::Event>> ClContext::take_timed_events() {
  std::lock_guard<std::mutex> lock(timing_.mu);
  std::vector<std::pair<int, cl::Event>> out;
  out.swap(timing_.events);
  return out;
}

Expected<cl::Program> ClContext::program_from_text(const std::string& name, const std::string& text,
                                                   const std::string& options) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = "text:" + name + "|" + options;
  auto it = programs_.find(key);
  if (it != programs_.end()) return it->second;
  cl_int err = CL_SUCCESS;
  cl::Program p(context_, text, false, &err);
  if (err != CL_SUCCESS)
    return runtime_error("clCreateProgramWithSource(" + name + ") failed: " + cl_error_name(err));
  const std::string full_options = "-cl-std=CL1.2 " + options;
  err = p.build({device_}, full_options.c_str());
  if (err != CL_SUCCESS) {
    std::string log;
    p.getBuildInfo(device_, CL_PROGRAM_BUILD_LOG, &log);
    if (log.size() > 4000) log = log.substr(0, 4000) + "\n...";
    return runtime_error("building " + name + " failed: " + cl_error_name(err) + "\n" + log);
  }
  ++built_;
  programs_[key] = p;
  return p;
}

Expected<cl::Kernel> ClContext::kernel(const std::string& source, const std::string& options,
                                       const std::string& kernel_name) {
  KILN_ASSIGN_OR_RETURN(cl::Program p, program(source, options));
  cl_int err = CL_SUCCESS;
  cl::Kernel k(p, kernel_name.c_str(), &err);
  if (err != CL_SUCCESS)
    return internal_error("kernel '" + kernel_name + "' in kernels/" + source +
                          ".cl: " + cl_error_name(err));
  return k;
}

}  // namespace kiln::opencl
