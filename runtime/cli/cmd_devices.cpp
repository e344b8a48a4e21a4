// kiln devices: the OpenCL and Vulkan devices on this machine and the capabilities kiln uses.
// A missing API or driver is reported, not an error: the exit status is 0 unless the JSON file
// cannot be written.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/cli/args.h"
#include "runtime/cli/commands.h"
#include "runtime/opencl/device_info.h"
#include "runtime/vulkan/device_info.h"

namespace kiln::cli {

namespace {

const char* kHelp =
    "usage: kiln devices [--json FILE] [--verbose]\n"
    "Lists every OpenCL device (of every platform) and every Vulkan physical device with the\n"
    "capabilities kiln uses. The index shown is the N of --device opencl:N / vulkan:N.\n"
    "  --json FILE   write the list as JSON\n"
    "  --verbose     also list the extensions\n";

std::string mib(uint64_t b) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.0f MiB", static_cast<double>(b) / (1 << 20));
  return buf;
}

std::string kib(uint64_t b) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.0f KiB", static_cast<double>(b) / 1024);
  return buf;
}

const char* yes_no(bool b) {
  return b ? "yes" : "no";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

void print_opencl(const opencl::OpenClDeviceInfo& d, bool verbose) {
  std::printf("  [%d] %s\n", d.index, d.name.c_str());
  std::printf("      platform: %s (%s), %s\n", d.platform_name.c_str(), d.platform_vendor.c_str(),
              d.platform_version.c_str());
  std::printf("      type: %s, vendor: %s, version: %s, driver: %s, %s\n", d.type.c_str(),
              d.vendor.c_str(), d.device_version.c_str(), d.driver_version.c_str(),
              d.opencl_c_version.c_str());
  std::printf("      memory: global %s, local %s, max allocation %s\n",
              mib(d.global_mem_bytes).c_str(), kib(d.local_mem_bytes).c_str(),
              mib(d.max_alloc_bytes).c_str());
  std::printf("      compute units: %u, max work-group size: %llu, clock: %u MHz\n",
              d.compute_units, static_cast<unsigned long long>(d.max_work_group_size),
              d.max_clock_mhz);
  std::printf(
      "      fp16: %s, fp64: %s, subgroups: %s, integer dot product: %s, command buffer: %s\n",
      yes_no(d.fp16), yes_no(d.fp64), yes_no(d.subgroups), yes_no(d.integer_dot_product),
      yes_no(d.command_buffer));
  if (verbose) std::printf("      extensions: %s\n", join(d.extensions, " ").c_str());
}

void print_vulkan(const vulkan::VulkanDeviceInfo& d, bool verbose) {
  std::printf("  [%d] %s\n", d.index, d.name.c_str());
  std::printf("      type: %s, vendor 0x%04x, device 0x%04x, API %s, driver %s", d.type.c_str(),
              d.vendor_id, d.device_id, d.api_version.c_str(), d.driver_version.c_str());
  if (!d.driver_name.empty())
    std::printf(" (%s%s%s)", d.driver_name.c_str(), d.driver_info.empty() ? "" : " ",
                d.driver_info.c_str());
  std::printf("\n      subgroup size: %u", d.subgroup_size);
  if (d.min_subgroup_size) std::printf(" (%u..%u)", d.min_subgroup_size, d.max_subgroup_size);
  std::printf(", operations: %s%s\n",
              d.subgroup_operations.empty() ? "none" : join(d.subgroup_operations, ",").c_str(),
              d.subgroup_ops_in_compute ? "" : " (not in compute shaders)");
  std::printf(
      "      shaderFloat16: %s, shaderInt8: %s, shaderInt16: %s, shaderInt64: %s, "
      "shaderFloat64: %s\n",
      yes_no(d.shader_float16), yes_no(d.shader_int8), yes_no(d.shader_int16),
      yes_no(d.shader_int64), yes_no(d.shader_float64));
  std::printf(
      "      16-bit storage: %s, 8-bit storage: %s, integer dot product: %s, "
      "cooperative matrix: %s%s\n",
      yes_no(d.storage_buffer_16bit), yes_no(d.storage_buffer_8bit), yes_no(d.integer_dot_product),
      yes_no(d.cooperative_matrix), d.cooperative_matrix_nv ? " (NV extension: yes)" : "");
  if (d.integer_dot_product)
    std::printf("      4x8-bit packed dot product accelerated: unsigned %s, signed %s, mixed %s\n",
                yes_no(d.idot_4x8_unsigned_accelerated), yes_no(d.idot_4x8_signed_accelerated),
                yes_no(d.idot_4x8_mixed_accelerated));
  std::printf(
      "      maxStorageBufferRange: %s, maxComputeSharedMemorySize: %s, "
      "max invocations: %u, max work group: %ux%ux%u, push constants: %u B\n",
      mib(d.max_storage_buffer_range).c_str(), kib(d.max_compute_shared_memory_size).c_str(),
      d.max_compute_work_group_invocations, d.max_compute_work_group_size[0],
      d.max_compute_work_group_size[1], d.max_compute_work_group_size[2],
      d.max_push_constants_size);
  std::printf("      memory heaps:");
  for (size_t i = 0; i < d.memory_heaps.size(); ++i)
    std::printf("%s %s%s", i ? "," : "", mib(d.memory_heaps[i].size_bytes).c_str(),
                d.memory_heaps[i].device_local ? " device-local" : "");
  std::printf("\n      compute queue families: %u\n", d.compute_queue_families);
  if (verbose) std::printf("      extensions: %s\n", join(d.extensions, " ").c_str());
}

nlohmann::json opencl_json(const opencl::OpenClDeviceInfo& d) {
  return {{"index", d.index},
          {"platform_index", d.platform_index},
          {"device_index", d.device_index},
          {"platform", d.platform_name},
          {"platform_vendor", d.platform_vendor},
          {"platform_version", d.platform_version},
          {"name", d.name},
          {"vendor", d.vendor},
          {"vendor_id", d.vendor_id},
          {"type", d.type},
          {"version", d.device_version},
          {"driver_version", d.driver_version},
          {"opencl_c_version", d.opencl_c_version},
          {"global_mem_bytes", d.global_mem_bytes},
          {"local_mem_bytes", d.local_mem_bytes},
          {"max_alloc_bytes", d.max_alloc_bytes},
          {"max_work_group_size", d.max_work_group_size},
          {"compute_units", d.compute_units},
          {"max_clock_mhz", d.max_clock_mhz},
          {"fp16", d.fp16},
          {"fp64", d.fp64},
          {"subgroups", d.subgroups},
          {"integer_dot_product", d.integer_dot_product},
          {"command_buffer", d.command_buffer},
          {"extensions", d.extensions}};
}

nlohmann::json vulkan_json(const vulkan::VulkanDeviceInfo& d) {
  nlohmann::json heaps = nlohmann::json::array();
  for (const auto& h : d.memory_heaps)
    heaps.push_back({{"size_bytes", h.size_bytes}, {"device_local", h.device_local}});
  return {{"index", d.index},
          {"name", d.name},
          {"type", d.type},
          {"vendor_id", d.vendor_id},
          {"device_id", d.device_id},
          {"api_version", d.api_version},
          {"driver_version", d.driver_version},
          {"driver_name", d.driver_name},
          {"driver_info", d.driver_info},
          {"subgroup_size", d.subgroup_size},
          {"min_subgroup_size", d.min_subgroup_size},
          {"max_subgroup_size", d.max_subgroup_size},
          {"subgroup_operations", d.subgroup_operations},
          {"subgroup_ops_in_compute", d.subgroup_ops_in_compute},
          {"shader_float16", d.shader_float16},
          {"shader_int8", d.shader_int8},
          {"shader_int16", d.shader_int16},
          {"shader_int64", d.shader_int64},
          {"shader_float64", d.shader_float64},
          {"storage_buffer_16bit", d.storage_buffer_16bit},
          {"storage_buffer_8bit", d.storage_buffer_8bit},
          {"integer_dot_product", d.integer_dot_product},
          {"idot_4x8_unsigned_accelerated", d.idot_4x8_unsigned_accelerated},
          {"idot_4x8_signed_accelerated", d.idot_4x8_signed_accelerated},
          {"idot_4x8_mixed_accelerated", d.idot_4x8_mixed_accelerated},
          {"cooperative_matrix", d.cooperative_matrix},
          {"cooperative_matrix_nv", d.cooperative_matrix_nv},
          {"max_storage_buffer_range", d.max_storage_buffer_range},
          {"max_compute_shared_memory_size", d.max_compute_shared_memory_size},
          {"max_compute_work_group_invocations", d.max_compute_work_group_invocations},
          {"max_compute_work_group_size",
           {d.max_compute_work_group_size[0], d.max_compute_work_group_size[1],
            d.max_compute_work_group_size[2]}},
          {"max_push_constants_size", d.max_push_constants_size},
          {"compute_queue_families", d.compute_queue_families},
          {"memory_heaps", heaps},
          {"extensions", d.extensions}};
}

}  // namespace

int cmd_devices(int argc, char** argv) {
  Args args({"json"}, {"help", "verbose"});
  if (!args.parse(argc, argv, 2)) {
    std::fprintf(stderr, "kiln devices: %s\n%s", args.error().c_str(), kHelp);
    return kExitUsage;
  }
  if (args.flag("help")) {
    std::printf("%s", kHelp);
    return kExitOk;
  }
  if (!args.positional().empty()) {
    std::fprintf(stderr, "kiln devices: unexpected argument '%s'\n%s", args.positional()[0].c_str(),
                 kHelp);
    return kExitUsage;
  }
  const bool verbose = args.flag("verbose");
  nlohmann::json j;

  auto cl = opencl::list_opencl_devices();
  std::printf("OpenCL:\n");
  j["opencl"] = {{"error", nullptr}, {"devices", nlohmann::json::array()}};
  if (!cl) {
    std::printf("  unavailable: %s\n", cl.status().message().c_str());
    j["opencl"]["error"] = cl.status().message();
  } else if (cl->empty()) {
    std::printf("  no OpenCL platform or device found\n");
  } else {
    for (const auto& d : *cl) {
      print_opencl(d, verbose);
      j["opencl"]["devices"].push_back(opencl_json(d));
    }
  }

  auto vk = vulkan::list_vulkan_devices();
  std::printf("Vulkan:\n");
  j["vulkan"] = {{"error", nullptr}, {"devices", nlohmann::json::array()}};
  if (!vk) {
    std::printf("  unavailable: %s\n", vk.status().message().c_str());
    j["vulkan"]["error"] = vk.status().message();
  } else if (vk->empty()) {
    std::printf("  no Vulkan driver or device found\n");
  } else {
    for (const auto& d : *vk) {
      print_vulkan(d, verbose);
      j["vulkan"]["devices"].push_back(vulkan_json(d));
    }
  }
  std::fflush(stdout);

  if (args.has("json")) {
    std::ofstream f(args.get("json"));
    f << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    f.close();
    if (!f) {
      std::fprintf(stderr, "kiln devices: cannot write the JSON file '%s'\n",
                   args.get("json").c_str());
      return kExitFailure;
    }
  }
  return kExitOk;
}

}  // namespace kiln::cli
