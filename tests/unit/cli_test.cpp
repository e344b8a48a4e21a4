// Tests for the device enumeration modules and the kiln binary's exit codes. The detailed CLI
// behaviour is covered by tests/python/test_cli.py.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "runtime/opencl/device_info.h"
#include "runtime/vulkan/device_info.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

TEST(DeviceInfo, OpenClEnumerates) {
  auto devs = opencl::list_opencl_devices();
  ASSERT_TRUE(devs.has_value()) << devs.status().message();
  if (!fs::exists("/etc/OpenCL/vendors/pocl.icd")) GTEST_SKIP() << "PoCL is not installed";
  ASSERT_FALSE(devs->empty());
  bool pocl = false;
  for (size_t i = 0; i < devs->size(); ++i) {
    const auto& d = (*devs)[i];
    EXPECT_EQ(d.index, static_cast<int>(i));
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.global_mem_bytes, 0u);
    EXPECT_GT(d.max_work_group_size, 0u);
    EXPECT_GT(d.compute_units, 0u);
    pocl = pocl || d.platform_name.find("Portable Computing Language") != std::string::npos;
  }
  EXPECT_TRUE(pocl);
}

TEST(DeviceInfo, VulkanEnumerates) {
  auto devs = vulkan::list_vulkan_devices();
  ASSERT_TRUE(devs.has_value()) << devs.status().message();
  if (!fs::exists("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"))
    GTEST_SKIP() << "lavapipe is not installed";
  bool lvp = false;
  for (const auto& d : *devs) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.max_storage_buffer_range, 0u);
    EXPECT_FALSE(d.memory_heaps.empty());
    if (d.name.find("llvmpipe") != std::string::npos) {
      lvp = true;
      EXPECT_EQ(d.type, "CPU");
      EXPECT_GT(d.subgroup_size, 0u);
      EXPECT_GT(d.max_compute_shared_memory_size, 0u);
    }
  }
  EXPECT_TRUE(lvp);
}

// Runs the kiln binary with `args` (stdout and stderr discarded); returns its exit code.
int run_kiln(const std::string& args) {
  std::string cmd = std::string(KILN_BINARY) + " " + args + " >/dev/null 2>&1";
  int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

class KilnBinary : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(KILN_BINARY)) GTEST_SKIP() << "the kiln binary is not built";
  }
};

TEST_F(KilnBinary, ExitCodes) {
  EXPECT_EQ(run_kiln("devices"), 0);
  EXPECT_EQ(run_kiln("devices --no-such-option"), 2);
  EXPECT_EQ(run_kiln("run"), 2);
  EXPECT_EQ(run_kiln("run --no-such-option x.onnx"), 2);
  EXPECT_EQ(run_kiln("run /nonexistent/model.onnx --random"), 1);
  EXPECT_EQ(run_kiln("info /nonexistent/model.onnx"), 1);
  EXPECT_EQ(run_kiln("info"), 2);
  EXPECT_EQ(run_kiln("run --help"), 0);
}

}  // namespace
}  // namespace kiln
