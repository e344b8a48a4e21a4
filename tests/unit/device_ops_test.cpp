// Every OpCase on every available device, compared with the CPU reference path. A missing device
// is a visible skip. Each case must run on the device (no silent CPU fallback).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/opencl/opencl_backend.h"
#include "runtime/tools/conformance.h"
#include "tests/opcases/op_case.h"

namespace kiln::testing {
namespace {

// Runs every case on `backend`, returns the number of cases checked.
void run_all_cases(device::Backend* backend, const std::set<std::string>& registered_ops) {
  int checked = 0;
  for (const OpCase& c : all_op_cases()) {
    if (!registered_ops.count(c.op)) continue;
    SCOPED_TRACE("case " + c.name);
    BuiltCase b = build_case(c);
    ASSERT_TRUE(b.graph->verify().is_ok());
    cpu::Executor ref(*b.graph, 1);
    auto want = ref.run(b.feeds);
    ASSERT_TRUE(want.has_value()) << want.status().to_string();
    device::HybridExecutor dev(*b.graph, backend, 1);
    ASSERT_TRUE(dev.prepare().is_ok());
    auto got = dev.run(b.feeds);
    ASSERT_TRUE(got.has_value()) << got.status().to_string();
    ASSERT_EQ(dev.last_assignment().size(), 1u);
    EXPECT_TRUE(dev.last_assignment()[0].on_device)
        << c.name << " fell back to the CPU: " << dev.last_assignment()[0].reason;
    ASSERT_EQ(got->size(), want->size());
    for (size_t o = 0; o < want->size(); ++o) {
      tools::Comparison cmp = tools::compare_tensors((*got)[o], (*want)[o], c.rtol, c.atol);
      EXPECT_TRUE(cmp.ok) << c.name << " output " << o << ": " << cmp.message;
    }
    // A replay with the same shapes prepares no new kernel and gives identical results.
    size_t prepared = dev.kernels_prepared();
    auto again = dev.run(b.feeds);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(dev.kernels_prepared(), prepared);
    for (size_t o = 0; o < got->size(); ++o)
      EXPECT_EQ(std::memcmp((*again)[o].raw_data(), (*got)[o].raw_data(), (*got)[o].nbytes()), 0)
          << c.name << ": a replay changed output " << o;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(OpenClOps, EveryCaseMatchesCpu) {
  auto b = opencl::OpenClBackend::create("opencl");
  if (!b) GTEST_SKIP() << "no OpenCL device: " << b.status().message();
  auto ops = opencl::cl_registry().ops();
  run_all_cases(b->get(), std::set<std::string>(ops.begin(), ops.end()));
}

// Coverage: every op with an OpenCL kernel has at least one OpCase.
TEST(OpenClOps, EveryKernelHasACase) {
  std::set<std::string> with_case;
  for (const OpCase& c : all_op_cases()) with_case.insert(c.op);
  for (const std::string& op : opencl::cl_registry().ops())
    EXPECT_TRUE(with_case.count(op)) << "OpenCL kernel for " << op << " has no OpCase";
}

TEST(OpCases, NamesAreUnique) {
  std::set<std::string> names;
  for (const OpCase& c : all_op_cases()) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

}  // namespace
}  // namespace kiln::testing
