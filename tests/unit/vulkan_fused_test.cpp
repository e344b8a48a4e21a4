// The Vulkan FusedElementwise kernel (runtime/vulkan/ops_fused.cpp) both ways, with the
// validation layer on: the specialized pipeline (the program as specialization constants, the
// default) and the interpreter loop over binding 0 (KILN_VK_SPECIALIZE=0). Every FusedElementwise
// OpCase (tests/opcases/cases_fused.cpp: odd sizes 1 / 13 / 127, broadcasting, immediates) must
// run on the device and match the CPU kernel within the case's tolerance (1e-5) on both paths
// (not bit for bit: the driver may contract a * b + c differently once the program is constant).
// With specialization, each distinct program gets its own pipeline; without, one serves them all.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <set>
#include <string>

#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/tools/conformance.h"
#include "runtime/vulkan/vulkan_backend.h"
#include "tests/opcases/op_case.h"

namespace kiln::testing {
namespace {

std::unique_ptr<vulkan::VulkanBackend> make_backend(bool specialize, std::string* why) {
  setenv("KILN_VK_VALIDATION", "1", 1);
  if (!specialize) setenv("KILN_VK_SPECIALIZE", "0", 1);
  auto r = vulkan::VulkanBackend::create("vulkan");
  if (!specialize) unsetenv("KILN_VK_SPECIALIZE");
  if (!r) {
    *why = r.status().message();
    return nullptr;
  }
  return std::move(*r);
}

// The case's outputs on `b` (the node must run on the device); empty on failure (reported).
std::vector<Tensor> run_on(vulkan::VulkanBackend* b, const OpCase& c,
                           std::vector<Tensor>* cpu_out) {
  BuiltCase bc = build_case(c);
  cpu::Executor ref(*bc.graph, 1);
  auto want = ref.run(bc.feeds);
  EXPECT_TRUE(want.has_value()) << c.name << ": " << want.status().to_string();
  if (!want) return {};
  device::HybridExecutor dev(*bc.graph, b, 1);
  EXPECT_TRUE(dev.prepare().is_ok()) << c.name;
  auto got = dev.run(bc.feeds);
  EXPECT_TRUE(got.has_value()) << c.name << ": " << got.status().to_string();
  if (!got) return {};
  EXPECT_TRUE(!dev.last_assignment().empty() && dev.last_assignment()[0].on_device)
      << c.name << " ran on the CPU";
  if (cpu_out) *cpu_out = std::move(*want);
  return std::move(*got);
}

TEST(VulkanFused, SpecializedAndInterpretedMatchCpuAndEachOther) {
  std::string why;
  auto on = make_backend(true, &why);
  if (!on) GTEST_SKIP() << "no Vulkan device: " << why;
  auto off = make_backend(false, &why);
  ASSERT_NE(off, nullptr) << why;
  ASSERT_TRUE(on->context().specialize());
  ASSERT_FALSE(off->context().specialize());
  const uint64_t before = vulkan::validation_message_count();
  std::set<std::string> programs;
  const std::vector<OpCase> cases = fused_cases();
  ASSERT_FALSE(cases.empty());
  for (const OpCase& c : cases) {
    std::string key;
    for (const char* a : {"opcodes", "operands"})
      for (int64_t x : c.attrs.at(a).ints) key += std::to_string(x) + ",";
    for (float f : c.attrs.at("params").floats) key += std::to_string(f) + ",";
    programs.insert(key + std::to_string(c.inputs.size()));
    std::vector<Tensor> cpu;
    std::vector<Tensor> a = run_on(on.get(), c, &cpu);
    std::vector<Tensor> b = run_on(off.get(), c, nullptr);
    ASSERT_EQ(a.size(), cpu.size()) << c.name;
    ASSERT_EQ(b.size(), cpu.size()) << c.name;
    for (size_t i = 0; i < cpu.size(); ++i) {
      tools::Comparison ca = tools::compare_tensors(a[i], cpu[i], c.rtol, c.atol);
      EXPECT_TRUE(ca.ok) << c.name << " (specialized): " << ca.message;
      tools::Comparison cb = tools::compare_tensors(b[i], cpu[i], c.rtol, c.atol);
      EXPECT_TRUE(cb.ok) << c.name << " (interpreter): " << cb.message;
    }
  }
  EXPECT_EQ(on->context().pipelines_built("fused_elementwise_f32"), programs.size());
  EXPECT_EQ(off->context().pipelines_built("fused_elementwise_f32"), 1u);
  EXPECT_EQ(vulkan::validation_message_count(), before)
      << "the Vulkan validation layer reported messages (see the log above)";
}

}  // namespace
}  // namespace kiln::testing
