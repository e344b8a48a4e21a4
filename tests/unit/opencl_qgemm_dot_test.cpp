// The OpenCL int8 GEMM through 4 x 8-bit dot products (kernels/quant.cl qgemm_dot), forced with
// KILN_CL_QGEMM=dot: every int8 GEMM OpCase (MatMulInteger, QLinearMatMul, MatMulIntegerToFloat,
// DynamicQuantizeMatMul: zero points 0 / 128 / 255 and per column, u8 / s8 mixes, odd M / N / K,
// K = 70001 with 255 x -128 wrapping sums) must give the CPU reference's bits for integer outputs
// (atol = rtol = 0; float outputs within the case's stated tolerance) and the same bits as the
// default variant (same integer sums, same float epilogue). On a device without
// cl_khr_integer_dot_product (PoCL) this runs DOT4U's portable expression: it checks the packing,
// the unsigned-byte trick for signed data and the zero-point correction, not the builtin mapping.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/opencl/opencl_backend.h"
#include "runtime/tools/conformance.h"
#include "tests/opcases/op_case.h"

namespace kiln::testing {
namespace {

struct DevRun {
  std::vector<Tensor> out;
  std::string kernel;
};

// Runs case c on the backend with KILN_CL_QGEMM = variant ("" = the default choice).
DevRun run_on(device::Backend* backend, const BuiltCase& b, const char* variant) {
  if (variant[0])
    setenv("KILN_CL_QGEMM", variant, 1);
  else
    unsetenv("KILN_CL_QGEMM");
  DevRun r;
  device::HybridExecutor dev(*b.graph, backend, 1);
  dev.set_profiling(true);
  // Kernels are prepared per input shape at the first run: the variable stays set until then.
  Status st = dev.prepare();
  if (!st.is_ok()) {
    unsetenv("KILN_CL_QGEMM");
    ADD_FAILURE() << "prepare failed: " << st.to_string();
    return r;
  }
  auto got = dev.run(b.feeds);
  unsetenv("KILN_CL_QGEMM");
  if (!got) {
    ADD_FAILURE() << "device run failed: " << got.status().to_string();
    return r;
  }
  EXPECT_TRUE(!dev.last_assignment().empty() && dev.last_assignment()[0].on_device)
      << "fell back to the CPU";
  for (const auto& e : dev.last_profile().events) r.kernel += e.kernel + ";";
  r.out = std::move(*got);
  return r;
}

TEST(OpenClInt8Dot, ForcedDotVariantBitExactAgainstCpu) {
  auto backend = opencl::OpenClBackend::create("opencl");
  if (!backend) GTEST_SKIP() << "no OpenCL device: " << backend.status().message();
  const std::set<std::string> gemm_ops = {"MatMulInteger", "QLinearMatMul",
                                          "com.microsoft.MatMulIntegerToFloat",
                                          "com.microsoft.DynamicQuantizeMatMul"};
  const bool has_dot_ext = (*backend)->context().info().integer_dot_product;
  int checked = 0;
  for (const OpCase& c : quant_cases()) {
    if (!gemm_ops.count(c.domain.empty() ? c.op : c.domain + "." + c.op)) continue;
    SCOPED_TRACE("case " + c.name);
    BuiltCase b = build_case(c);
    cpu::Executor ref(*b.graph, 1);
    auto want = ref.run(b.feeds);
    ASSERT_TRUE(want.has_value()) << want.status().to_string();
    DevRun dot = run_on(backend->get(), b, "dot");
    DevRun def = run_on(backend->get(), b, "");
    ASSERT_EQ(dot.out.size(), want->size());
    ASSERT_EQ(def.out.size(), want->size());
    EXPECT_NE(dot.kernel.find("qgemm_dot"), std::string::npos) << "ran " << dot.kernel;
    // Unforced, the dot variant needs the extension (PoCL: the existing kernels).
    if (!has_dot_ext) {
      EXPECT_EQ(def.kernel.find("qgemm_dot"), std::string::npos) << "ran " << def.kernel;
    }
    for (size_t o = 0; o < want->size(); ++o) {
      const Tensor& w = (*want)[o];
      const bool integer = w.dtype() != DType::kFloat32;
      tools::Comparison cmp =
          tools::compare_tensors(dot.out[o], w, integer ? 0 : c.rtol, integer ? 0 : c.atol);
      EXPECT_TRUE(cmp.ok) << "dot variant vs CPU, output " << o << ": " << cmp.message;
      if (integer) {
        EXPECT_EQ(std::memcmp(dot.out[o].raw_data(), w.raw_data(), w.nbytes()), 0)
            << "output " << o << " is not bit-exact against the CPU";
      }
      ASSERT_EQ(dot.out[o].nbytes(), def.out[o].nbytes());
      EXPECT_EQ(std::memcmp(dot.out[o].raw_data(), def.out[o].raw_data(), w.nbytes()), 0)
          << "dot variant vs default (" << def.kernel << "), output " << o;
    }
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
}  // namespace kiln::testing
