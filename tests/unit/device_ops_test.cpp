// Every OpCase on every available device, compared with the CPU reference path. A missing device
// is a visible skip. Each case must run on the device (no silent CPU fallback).
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>

#include "graph/onnx/importer.h"
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
    // The registry keys com.microsoft ops as "com.microsoft.Op".
    if (!registered_ops.count(c.domain.empty() ? c.op : c.domain + "." + c.op)) continue;
    // KILN_OPCASE_FILTER=substring runs only the matching cases (for kernel work).
    if (const char* f = std::getenv("KILN_OPCASE_FILTER"); f && c.name.find(f) == std::string::npos)
      continue;
    SCOPED_TRACE("case " + c.name);
    // A failing case is reported and the loop goes on, so one family cannot hide another.
    BuiltCase b = build_case(c);
    if (!b.graph->verify().is_ok()) {
      ADD_FAILURE() << c.name << ": the case's graph does not verify";
      continue;
    }
    cpu::Executor ref(*b.graph, 1);
    auto want = ref.run(b.feeds);
    if (!want) {
      ADD_FAILURE() << c.name << ": CPU reference failed: " << want.status().to_string();
      continue;
    }
    device::HybridExecutor dev(*b.graph, backend, 1);
    if (!dev.prepare().is_ok()) {
      ADD_FAILURE() << c.name << ": prepare failed";
      continue;
    }
    auto got = dev.run(b.feeds);
    if (!got) {
      ADD_FAILURE() << c.name << ": device run failed: " << got.status().to_string();
      continue;
    }
    EXPECT_EQ(dev.last_assignment().size(), 1u);
    const bool cpu_ok = std::find(c.cpu_ok_on.begin(), c.cpu_ok_on.end(), "opencl") !=
                        c.cpu_ok_on.end();
    EXPECT_TRUE(!dev.last_assignment().empty() && (dev.last_assignment()[0].on_device || cpu_ok))
        << c.name << " fell back to the CPU: "
        << (dev.last_assignment().empty() ? "" : dev.last_assignment()[0].reason);
    if (got->size() != want->size()) {
      ADD_FAILURE() << c.name << ": output count differs";
      continue;
    }
    for (size_t o = 0; o < want->size(); ++o) {
      tools::Comparison cmp = tools::compare_tensors((*got)[o], (*want)[o], c.rtol, c.atol);
      EXPECT_TRUE(cmp.ok) << c.name << " output " << o << ": " << cmp.message;
    }
    // A replay with the same shapes prepares no new kernel and gives identical results.
    size_t prepared = dev.kernels_prepared();
    auto again = dev.run(b.feeds);
    if (!again) {
      ADD_FAILURE() << c.name << ": replay failed: " << again.status().to_string();
      continue;
    }
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
  if (!b) {
    GTEST_SKIP() << "no OpenCL device: " << b.status().message();
  }
  auto ops = opencl::cl_registry().ops();
  run_all_cases(b->get(), std::set<std::string>(ops.begin(), ops.end()));
}

// Coverage: every op with an OpenCL kernel has at least one OpCase.
TEST(OpenClOps, EveryKernelHasACase) {
  std::set<std::string> with_case;
  for (const OpCase& c : all_op_cases())
    with_case.insert(c.domain.empty() ? c.op : c.domain + "." + c.op);
  for (const std::string& op : opencl::cl_registry().ops())
    EXPECT_TRUE(with_case.count(op)) << "OpenCL kernel for " << op << " has no OpCase";
}

TEST(OpCases, NamesAreUnique) {
  std::set<std::string> names;
  for (const OpCase& c : all_op_cases()) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

}  // namespace
}  // namespace kiln::testing

namespace kiln::testing {
namespace {

// A real model (the bundled encoder) on the device: several sequence lengths, each repeated.
// Every run equals the CPU path; a repeated shape builds no new kernel and no new memory plan.
TEST(OpenClModel, ExampleEncoderPlansPerShape) {
  auto backend = opencl::OpenClBackend::create("opencl");
  if (!backend) {
    GTEST_SKIP() << "no OpenCL device: " << backend.status().message();
  }
  auto model =
      onnx_io::load_model(std::string(KILN_SOURCE_DIR) + "/tests/models/example/encoder.onnx");
  ASSERT_TRUE(model.has_value()) << model.status().to_string();
  const ir::Graph& g = *model->graph;
  cpu::Executor ref(g, 1);
  device::HybridExecutor dev(g, backend->get(), 1);
  ASSERT_TRUE(dev.prepare().is_ok());
  size_t plans = 0;
  std::set<int64_t> seen;
  for (int64_t seq : {7, 16, 7, 1, 16}) {
    SCOPED_TRACE("sequence length " + std::to_string(seq));
    Tensor ids = Tensor::create(DType::kInt64, {1, seq}).value();
    Tensor mask = Tensor::create(DType::kInt64, {1, seq}).value();
    for (int64_t i = 0; i < seq; ++i) {
      ids.data<int64_t>()[i] = (i * 37 + 11) % 1000;
      mask.data<int64_t>()[i] = i < seq - 1 || seq == 1 ? 1 : 0;
    }
    std::map<std::string, Tensor> feeds = {{"input_ids", ids}, {"attention_mask", mask}};
    auto want = ref.run(feeds);
    ASSERT_TRUE(want.has_value()) << want.status().to_string();
    size_t kernels_before = dev.kernels_prepared();
    auto got = dev.run(feeds);
    ASSERT_TRUE(got.has_value()) << got.status().to_string();
    for (size_t o = 0; o < want->size(); ++o) {
      tools::Comparison c = tools::compare_tensors((*got)[o], (*want)[o], 1e-4, 1e-4);
      EXPECT_TRUE(c.ok) << "output " << o << ": " << c.message;
    }
    if (!seen.insert(seq).second) {  // a repeated shape: nothing new is prepared or planned
      EXPECT_EQ(dev.kernels_prepared(), kernels_before);
      EXPECT_EQ(dev.plans_built(), plans);
    }
    plans = dev.plans_built();
  }
  EXPECT_EQ(dev.plans_built(), 3u);  // sequence lengths 7, 16 and 1
  EXPECT_GT(dev.last_arena_bytes(), 0u);
}

}  // namespace
}  // namespace kiln::testing
