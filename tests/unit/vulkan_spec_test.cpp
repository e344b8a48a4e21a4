// Vulkan specialization constants and the int8 dot-product GEMM, with the validation layer on:
// - shapes known at plan time (MatMul / Gemm / conv GEMM, direct Conv, Softmax,
//   LayerNormalization, the elementwise op codes) are specialization constants: odd sizes match
//   the CPU reference, as
//   they do with KILN_VK_SPECIALIZE=0 (everything through push constants), and each GEMM shape
//   gets its own pipeline;
// - where shaderIntegerDotProduct is enabled, MatMulInteger / QLinearMatMul /
//   MatMulIntegerToFloat with K and N multiples of 4 run qgemm_4x4_dot (packed 4 x 8-bit OpUDot):
//   bit-exact against the CPU and against the unpacked-word variant (KILN_VK_QGEMM=4x8), zero
//   points, u8/s8 mixes, wrapping sums included.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/tools/conformance.h"
#include "runtime/vulkan/vulkan_backend.h"
#include "tests/opcases/op_case.h"

namespace kiln::testing {
namespace {

// A backend with the validation layer; `specialize` false sets KILN_VK_SPECIALIZE=0 while the
// context is created (the context reads it once).
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

vulkan::VulkanBackend* spec_backend(bool specialize, std::string* why) {
  static std::string reason_on, reason_off;
  static std::unique_ptr<vulkan::VulkanBackend> on = make_backend(true, &reason_on);
  static std::unique_ptr<vulkan::VulkanBackend> off = make_backend(false, &reason_off);
  *why = specialize ? reason_on : reason_off;
  return specialize ? on.get() : off.get();
}

// Runs `c` on the CPU and on `b`; the node must run on the device. Returns both output lists.
struct Outputs {
  std::vector<Tensor> cpu, dev;
};
Outputs run_case(vulkan::VulkanBackend* b, const OpCase& c) {
  Outputs o;
  BuiltCase bc = build_case(c);
  EXPECT_TRUE(bc.graph->verify().is_ok()) << c.name;
  cpu::Executor ref(*bc.graph, 1);
  auto want = ref.run(bc.feeds);
  EXPECT_TRUE(want.has_value()) << c.name << ": " << want.status().to_string();
  if (!want) return o;
  device::HybridExecutor dev(*bc.graph, b, 1);
  EXPECT_TRUE(dev.prepare().is_ok()) << c.name;
  auto got = dev.run(bc.feeds);
  EXPECT_TRUE(got.has_value()) << c.name << ": " << got.status().to_string();
  if (!got) return o;
  EXPECT_EQ(dev.last_assignment().size(), 1u);
  if (!dev.last_assignment().empty()) {
    EXPECT_TRUE(dev.last_assignment()[0].on_device)
        << c.name << " ran on the CPU: " << dev.last_assignment()[0].reason;
  }
  o.cpu = std::move(*want);
  o.dev = std::move(*got);
  return o;
}

void expect_close(const Outputs& o, const OpCase& c, const std::string& what) {
  ASSERT_EQ(o.cpu.size(), o.dev.size()) << c.name;
  for (size_t i = 0; i < o.cpu.size(); ++i) {
    tools::Comparison cmp = tools::compare_tensors(o.dev[i], o.cpu[i], c.rtol, c.atol);
    EXPECT_TRUE(cmp.ok) << c.name << " (" << what << ") output " << i << ": " << cmp.message;
  }
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

OpCase fcase(std::string name, std::string op, int opset, std::vector<InputSpec> in,
             double tol = 1e-4, std::map<std::string, ir::Attribute> attrs = {}) {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.opset = opset;
  c.inputs = std::move(in);
  c.attrs = std::move(attrs);
  c.atol = tol;
  c.rtol = tol;
  return c;
}

// Odd sizes (1, 13, 127, not multiples of the tiles) and the vec4 GEMM shapes.
std::vector<OpCase> spec_cases() {
  std::vector<OpCase> v;
  v.push_back(fcase("MatMul/1x13x127", "MatMul", 13, {in_f32({1, 13}), in_f32({13, 127})}));
  v.push_back(fcase("MatMul/13x127x13", "MatMul", 13, {in_f32({13, 127}), in_f32({127, 13})}));
  v.push_back(fcase("MatMul/127x1x1", "MatMul", 13, {in_f32({127, 1}), in_f32({1, 1})}));
  v.push_back(fcase("MatMul/vec4_127x64x36", "MatMul", 13, {in_f32({127, 64}), in_f32({64, 36})}));
  v.push_back(fcase("MatMul/batched_3x13x20x12", "MatMul", 13,
                    {in_f32({3, 13, 20}), in_f32({3, 20, 12})}));
  v.push_back(fcase("Gemm/transB_bias_13x33x20", "Gemm", 13,
                    {in_f32({13, 33}), in_f32({20, 33}), in_f32({20})}, 1e-4,
                    {{"transB", attr_i(1)}, {"alpha", attr_f(0.5f)}, {"beta", attr_f(2.0f)}}));
  v.push_back(fcase("Conv/pointwise_1x12x5x4_to_13", "Conv", 13,
                    {in_f32({1, 12, 5, 4}), in_f32({13, 12, 1, 1}), in_f32({13})}));
  // The direct conv kernels: kernel, stride, dilation, pads and channels per group specialized.
  v.push_back(fcase("Conv/3x3_stride2_pad1_1x5x13x13_to_7", "Conv", 13,
                    {in_f32({1, 5, 13, 13}), in_f32({7, 5, 3, 3}), in_f32({7})}, 1e-4,
                    {{"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})}}));
  v.push_back(fcase("Conv/depthwise_dilated_2x6x9x11", "Conv", 13,
                    {in_f32({2, 6, 9, 11}), in_f32({6, 1, 3, 3})}, 1e-4,
                    {{"group", attr_i(6)}, {"dilations", attr_ints({2, 1})},
                     {"pads", attr_ints({2, 0, 1, 1})}}));
  v.push_back(fcase("Conv/1d_k5_1x3x127_to_13", "Conv", 13,
                    {in_f32({1, 3, 127}), in_f32({13, 3, 5})}, 1e-4,
                    {{"pads", attr_ints({2, 2})}}));
  v.push_back(fcase("Softmax/13x127", "Softmax", 13, {in_f32({13, 127}, -5, 5)}));
  v.push_back(fcase("Softmax/axis1_3x13x5", "Softmax", 13, {in_f32({3, 13, 5}, -5, 5)}, 1e-4,
                    {{"axis", attr_i(1)}}));
  v.push_back(fcase("LogSoftmax/1x127", "LogSoftmax", 13, {in_f32({1, 127}, -5, 5)}));
  v.push_back(fcase("LayerNormalization/13x127", "LayerNormalization", 17,
                    {in_f32({13, 127}), in_f32({127}), in_f32({127})}));
  v.push_back(fcase("LayerNormalization/no_bias_3x13x5", "LayerNormalization", 17,
                    {in_f32({3, 13, 5}), in_f32({13, 5})}, 1e-4, {{"axis", attr_i(1)}}));
  v.push_back(fcase("Add/row_13x127", "Add", 13, {in_f32({13, 127}), in_f32({127})}));
  v.push_back(fcase("Mul/bcast_13x1x5", "Mul", 13, {in_f32({13, 1, 5}), in_f32({3, 1})}));
  v.push_back(fcase("Sigmoid/127", "Sigmoid", 13, {in_f32({127}, -8, 8)}));
  v.push_back(fcase("Tanh/1", "Tanh", 13, {in_f32({1})}));
  return v;
}

TEST(VulkanSpecialization, OddShapesMatchCpuWithAndWithoutSpecialization) {
  std::string why;
  vulkan::VulkanBackend* on = spec_backend(true, &why);
  if (!on) GTEST_SKIP() << "no Vulkan device: " << why;
  vulkan::VulkanBackend* off = spec_backend(false, &why);
  ASSERT_NE(off, nullptr) << why;
  ASSERT_TRUE(on->context().specialize());
  ASSERT_FALSE(off->context().specialize());
  const uint64_t before = vulkan::validation_message_count();
  for (const OpCase& c : spec_cases()) {
    SCOPED_TRACE(c.name);
    expect_close(run_case(on, c), c, "specialized");
    expect_close(run_case(off, c), c, "push constants");
  }
  // Specialized: one scalar GEMM pipeline per shape (5 MatMul/Gemm shapes and the conv GEMM);
  // through push constants: one for all.
  EXPECT_GE(on->context().pipelines_built("matmul_f32"), 6u);
  EXPECT_EQ(off->context().pipelines_built("matmul_f32"), 1u);
  EXPECT_GE(on->context().pipelines_built("softmax_f32"), 3u);
  EXPECT_EQ(off->context().pipelines_built("conv_dw"), 1u);
  EXPECT_EQ(on->context().pipelines_built("conv_dw"), 1u);
  EXPECT_EQ(off->context().pipelines_built("softmax_f32"), 1u);
  EXPECT_EQ(vulkan::validation_message_count(), before)
      << "the Vulkan validation layer reported messages (see the log above)";
}

TEST(VulkanSpecialization, SameShapeReusesThePipeline) {
  std::string why;
  vulkan::VulkanBackend* on = spec_backend(true, &why);
  if (!on) GTEST_SKIP() << "no Vulkan device: " << why;
  const OpCase c =
      fcase("MatMul/reuse_7x29x11", "MatMul", 13, {in_f32({7, 29}), in_f32({29, 11})});
  expect_close(run_case(on, c), c, "first plan");
  const size_t n = on->context().pipelines_built("matmul_f32");
  expect_close(run_case(on, c), c, "second plan");
  EXPECT_EQ(on->context().pipelines_built("matmul_f32"), n);
}

// Optional features are enabled only where the device reports them.
TEST(VulkanFeatures, EnabledOnlyWhenPresent) {
  std::string why;
  vulkan::VulkanBackend* b = spec_backend(true, &why);
  if (!b) GTEST_SKIP() << "no Vulkan device: " << why;
  const vulkan::VkFeatures& f = b->context().features();
  const vulkan::VulkanDeviceInfo& d = b->context().info();
  EXPECT_TRUE(!f.storage_16bit || d.storage_buffer_16bit);
  EXPECT_TRUE(!f.storage_8bit || d.storage_buffer_8bit);
  EXPECT_TRUE(!f.float16 || d.shader_float16);
  EXPECT_TRUE(!f.int8 || d.shader_int8);
  EXPECT_TRUE(!f.int16 || d.shader_int16);
  EXPECT_TRUE(!f.integer_dot_product || d.integer_dot_product);
  EXPECT_EQ(f.cooperative_matrix, d.cooperative_matrix);
  // A Vulkan 1.3 device (lavapipe is one) that reports the dot-product feature gets it enabled.
  if (d.integer_dot_product && d.api_version_raw >= VK_API_VERSION_1_3) {
    EXPECT_TRUE(f.integer_dot_product);
  }
}

// ---- int8 GEMM through integer dot products ------------------------------------------------------

InputSpec q8(DType t, Shape s, bool constant = false) {
  InputSpec i;
  i.dtype = t;
  i.shape = std::move(s);
  i.lo = t == DType::kInt8 ? -128 : 0;
  i.hi = t == DType::kInt8 ? 128 : 256;
  i.constant = constant;
  return i;
}
InputSpec fill(InputSpec s, std::vector<double> v) {
  s.values = std::move(v);
  return s;
}
InputSpec zp(DType t, double v) {
  InputSpec i;
  i.dtype = t;
  i.values = {v};
  i.constant = true;
  return i;
}
InputSpec cf32(Shape s, double lo, double hi) {
  InputSpec i = in_f32(std::move(s), lo, hi);
  i.constant = true;
  return i;
}
OpCase qcase(std::string name, std::string op, int opset, std::vector<InputSpec> in,
             std::string domain = "") {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.domain = std::move(domain);
  c.opset = opset;
  c.inputs = std::move(in);
  c.atol = 0;
  c.rtol = 0;
  return c;
}

// K and N multiples of 4 (the packed-word and dot-product variants), odd M.
std::vector<OpCase> dot_cases() {
  const DType u8 = DType::kUInt8, s8 = DType::kInt8;
  std::vector<OpCase> v;
  v.push_back(qcase("MatMulInteger/u8u8_zp128_3_13x64x20", "MatMulInteger", 10,
                    {q8(u8, {13, 64}), q8(u8, {64, 20}, true), zp(u8, 128), zp(u8, 3)}));
  v.push_back(qcase("MatMulInteger/u8s8_per_column_zp_1x4x4", "MatMulInteger", 10,
                    {q8(u8, {1, 4}), q8(s8, {4, 4}, true), zp(u8, 131), q8(s8, {4}, true)}));
  v.push_back(qcase("MatMulInteger/s8u8_no_zp_127x36x12", "MatMulInteger", 10,
                    {q8(s8, {127, 36}), q8(u8, {36, 12})}));
  v.push_back(qcase("MatMulInteger/s8s8_zp_batched_3x1x5x32_by_2x32x12", "MatMulInteger", 10,
                    {q8(s8, {3, 1, 5, 32}), q8(s8, {2, 32, 12}), zp(s8, -9), zp(s8, 100)}));
  // 255 x -128 on every k, zero points at the far ends: the wrapping sums (K = 70000).
  v.push_back(qcase("MatMulInteger/u8s8_wrap_K70000", "MatMulInteger", 10,
                    {fill(q8(u8, {3, 70000}), {255}), fill(q8(s8, {70000, 8}, true), {-128}),
                     zp(u8, 0), zp(s8, 127)}));
  v.push_back(qcase("MatMulInteger/s8s8_extremes_K4100", "MatMulInteger", 10,
                    {fill(q8(s8, {5, 4100}), {127, -128}), fill(q8(s8, {4100, 16}), {-128, 127}),
                     zp(s8, -128), zp(s8, 127)}));
  v.push_back(qcase("QLinearMatMul/u8s8_per_column_13x64x36", "QLinearMatMul", 10,
                    {q8(u8, {13, 64}), cf32({}, 0.01, 0.02), zp(u8, 128), q8(s8, {64, 36}, true),
                     cf32({36}, 0.002, 0.006), q8(s8, {36}, true), cf32({}, 0.03, 0.06),
                     zp(u8, 120)}));
  OpCase f = qcase("MatMulIntegerToFloat/u8s8_13x64x40", "MatMulIntegerToFloat", 1,
                   {q8(u8, {13, 64}), q8(s8, {64, 40}, true), cf32({}, 0.01, 0.02),
                    cf32({40}, 0.001, 0.01), zp(u8, 128), q8(s8, {40}, true), cf32({40}, -1, 1)},
                   "com.microsoft");
  v.push_back(std::move(f));
  return v;
}

TEST(VulkanInt8Dot, BitExactAgainstCpuAndWordVariant) {
  std::string why;
  vulkan::VulkanBackend* b = spec_backend(true, &why);
  if (!b) GTEST_SKIP() << "no Vulkan device: " << why;
  if (!b->context().features().integer_dot_product)
    GTEST_SKIP() << "the Vulkan device has no shaderIntegerDotProduct";
  if (!b->context().features().bytes()) GTEST_SKIP() << "no 8-bit storage / shaderInt8";
  const uint64_t before = vulkan::validation_message_count();
  unsetenv("KILN_VK_QGEMM");
  for (const OpCase& c : dot_cases()) {
    SCOPED_TRACE(c.name);
    const size_t dots = b->context().pipelines_built("qgemm_4x4_dot");
    Outputs d = run_case(b, c);
    EXPECT_GE(b->context().pipelines_built("qgemm_4x4_dot"), dots > 0 ? dots : 1u)
        << "the dot-product variant was not built";
    setenv("KILN_VK_QGEMM", "4x8", 1);
    Outputs w = run_case(b, c);
    unsetenv("KILN_VK_QGEMM");
    ASSERT_EQ(d.dev.size(), d.cpu.size());
    ASSERT_EQ(w.dev.size(), d.dev.size());
    for (size_t i = 0; i < d.dev.size(); ++i) {
      EXPECT_TRUE(same_bits(d.dev[i], d.cpu[i])) << "dot variant vs CPU, output " << i << ": "
                                                 << tools::compare_tensors(d.dev[i], d.cpu[i], 0, 0)
                                                        .message;
      EXPECT_TRUE(same_bits(w.dev[i], d.dev[i])) << "word variant vs dot variant, output " << i;
    }
  }
  EXPECT_EQ(vulkan::validation_message_count(), before)
      << "the Vulkan validation layer reported messages (see the log above)";
}

}  // namespace
}  // namespace kiln::testing
