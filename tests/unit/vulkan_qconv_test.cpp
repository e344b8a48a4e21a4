// Vulkan ConvInteger and QLinearConv (runtime/vulkan/ops_qconv.cpp, shaders/qconv.comp) against
// the CPU reference, bit for bit (atol = rtol = 0), with the validation layer on (any message
// fails). Both the shared OpCases of these ops (all_op_cases()) and the cases below must run on
// the device, except the ones the kernel refuses on purpose (checked with their reason): the
// 72000-tap wrap-around case (lavapipe's loop limit) and QLinearConvs whose sums could leave
// int32 (at most 2 such shared cases). The cases here add what the shared list lacks: 3-D convs,
// batch 2, width 127, runtime zero points, int32 bias at the extremes (the sign / magnitude sum of
// the requantization), sums at the int32 limit, multipliers that underflow to 0 and saturate.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
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

using Attrs = std::map<std::string, ir::Attribute>;
const DType u8 = DType::kUInt8, s8 = DType::kInt8;

InputSpec q(DType t, Shape s, bool constant = false) {
  InputSpec i;
  i.dtype = t;
  i.shape = std::move(s);
  i.lo = t == DType::kInt8 ? -128 : 0;
  i.hi = t == DType::kInt8 ? 128 : 256;
  i.constant = constant;
  return i;
}
InputSpec scalar(DType t, double v, bool constant = true) {
  InputSpec i;
  i.dtype = t;
  i.values = {v};
  i.constant = constant;
  return i;
}
InputSpec f32(double v) {
  return scalar(DType::kFloat32, v);
}
InputSpec bias_values(std::vector<double> v) {
  InputSpec i;
  i.dtype = DType::kInt32;
  i.shape = {static_cast<int64_t>(v.size())};
  i.values = std::move(v);
  i.constant = true;
  return i;
}

OpCase make(std::string name, std::string op, std::vector<InputSpec> in, Attrs attrs = {}) {
  OpCase c;
  c.name = op + "/vk_" + std::move(name);
  c.op = std::move(op);
  c.opset = 10;
  c.inputs = std::move(in);
  c.attrs = std::move(attrs);
  c.atol = 0;
  c.rtol = 0;
  return c;
}

std::vector<OpCase> own_cases() {
  std::vector<OpCase> v;
  v.push_back(
      make("u8s8_3d_c3_m5_k3_pads_stride2", "ConvInteger",
           {q(u8, {1, 3, 5, 7, 9}), q(s8, {5, 3, 3, 3, 3}, true), scalar(u8, 17), q(s8, {5}, true)},
           {{"pads", attr_ints({1, 0, 1, 1, 2, 0})}, {"strides", attr_ints({2, 1, 2})}}));
  v.push_back(
      make("s8u8_batch2_w127_1d_dilation2_runtime_zero_points", "ConvInteger",
           {q(s8, {2, 5, 127}), q(u8, {13, 5, 3}), scalar(s8, -7, false), scalar(u8, 200, false)},
           {{"dilations", attr_ints({2})}, {"pads", attr_ints({2, 1})}}));
  v.push_back(
      make("u8u8_depthwise_c13_k3_stride2_dilation2_per_channel", "ConvInteger",
           {q(u8, {1, 13, 13, 13}), q(u8, {13, 1, 3, 3}, true), scalar(u8, 255), q(u8, {13}, true)},
           {{"group", attr_i(13)},
            {"strides", attr_ints({2, 2})},
            {"dilations", attr_ints({2, 2})},
            {"pads", attr_ints({1, 1, 2, 2})}}));
  // QLinearConv inputs: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
  // y_zero_point, bias.
  v.push_back(make("s8s8u8_3d_per_channel_bias", "QLinearConv",
                   {q(s8, {1, 3, 5, 6, 7}), f32(0.02), scalar(s8, 3), q(s8, {5, 3, 2, 3, 3}, true),
                    const_f32({5}, 0.001, 0.01), q(s8, {5}, true), f32(0.03), scalar(u8, 130),
                    bias_values({-1000, 0, 2500, 77, -3})},
                   {{"pads", attr_ints({1, 1, 1, 0, 1, 1})}}));
  // int32 bias at the extremes: acc + bias leaves int32 (sign / magnitude in the shader), a
  // tiny multiplier keeps the result in range for some channels.
  v.push_back(make("u8u8s8_bias_extremes", "QLinearConv",
                   {q(u8, {1, 5, 13, 13}), f32(0.5), scalar(u8, 128), q(u8, {4, 5, 3, 3}, true),
                    const_f32({4}, 1e-7, 2e-7), scalar(u8, 0), f32(3.0), scalar(s8, 0),
                    bias_values({2147483647, -2147483648.0, 2000000000, -2147483000})},
                   {{"pads", attr_ints({1, 1, 1, 1})}}));
  v.push_back(make("u8s8u8_tiny_and_huge_multipliers_group2", "QLinearConv",
                   {q(u8, {2, 6, 13, 13}), f32(1e-4), scalar(u8, 9), q(s8, {4, 3, 3, 3}, true),
                    const_f32({4}, 1, 2), scalar(s8, -1), f32(1e-30), scalar(u8, 100),
                    bias_values({5, -5, 0, 100000})},
                   {{"group", attr_i(2)}, {"strides", attr_ints({2, 2})}}));
  v.push_back(make("s8s8s8_underflow_to_zero_point", "QLinearConv",
                   {q(s8, {1, 3, 13, 13}), f32(1e-20), scalar(s8, 0), q(s8, {5, 3, 1, 1}, true),
                    f32(1e-20), scalar(s8, 0), f32(1.0), scalar(s8, -9)}));
  v.push_back(make("u8u8u8_runtime_scales_and_zero_points_1x1_image", "QLinearConv",
                   {q(u8, {1, 13, 1, 1}), in_f32({}, 0.01, 0.02), scalar(u8, 128, false),
                    q(u8, {3, 13, 1, 1}), in_f32({3}, 0.001, 0.01), q(u8, {3}),
                    in_f32({}, 0.001, 0.003), scalar(u8, 3, false), bias_values({-7, 8, 9})}));
  // Sums at the limit: (255 - 0) * (-128 - 127) over 3669 x 9 = 33021 taps (-2147190525 inside,
  // fewer taps at the padded border) plus bias -2^31 / 2^31 - 1: |acc + bias| near 2^32.
  InputSpec x255 = q(u8, {1, 3669, 5, 5});
  x255.values = {255};
  InputSpec wm128 = q(s8, {2, 3669, 3, 3}, true);
  wm128.values = {-128};
  v.push_back(make("u8s8s8_sums_at_the_int32_limit", "QLinearConv",
                   {x255, f32(1.5e-4), scalar(u8, 0), wm128, f32(1.5e-4), scalar(s8, 127), f32(1.0),
                    scalar(s8, 0), bias_values({-2147483648.0, 2147483647})},
                   {{"pads", attr_ints({1, 1, 1, 1})}}));
  return v;
}

std::unique_ptr<vulkan::VulkanBackend> make_backend(std::string* why) {
  setenv("KILN_VK_VALIDATION", "1", 1);
  auto r = vulkan::VulkanBackend::create("vulkan");
  if (!r) {
    *why = r.status().message();
    return nullptr;
  }
  return std::move(*r);
}

// Runs `c` on the CPU and through the backend; compares bit for bit. Returns whether the node
// ran on the device; *reason gets the fallback reason.
bool check_case(vulkan::VulkanBackend* b, const OpCase& c, std::string* reason) {
  SCOPED_TRACE("case " + c.name);
  BuiltCase bc = build_case(c);
  EXPECT_TRUE(bc.graph->verify().is_ok());
  cpu::Executor ref(*bc.graph, 1);
  auto want = ref.run(bc.feeds);
  EXPECT_TRUE(want.has_value()) << want.status().to_string();
  if (!want) return false;
  device::HybridExecutor dev(*bc.graph, b, 1);
  EXPECT_TRUE(dev.prepare().is_ok());
  auto got = dev.run(bc.feeds);
  EXPECT_TRUE(got.has_value()) << got.status().to_string();
  if (!got) return false;
  EXPECT_EQ(got->size(), want->size());
  for (size_t o = 0; o < want->size() && o < got->size(); ++o) {
    tools::Comparison cmp = tools::compare_tensors((*got)[o], (*want)[o], 0, 0);
    EXPECT_TRUE(cmp.ok) << "output " << o << ": " << cmp.message;
    EXPECT_EQ((*got)[o].nbytes(), (*want)[o].nbytes());
    if ((*got)[o].nbytes() == (*want)[o].nbytes()) {
      EXPECT_EQ(std::memcmp((*got)[o].raw_data(), (*want)[o].raw_data(), (*got)[o].nbytes()), 0);
    }
  }
  if (dev.last_assignment().empty()) return false;
  *reason = dev.last_assignment()[0].reason;
  return dev.last_assignment()[0].on_device;
}

bool is_qconv(const OpCase& c) {
  return c.domain.empty() && (c.op == "ConvInteger" || c.op == "QLinearConv");
}

TEST(VulkanQConv, EveryCaseRunsOnDeviceBitExact) {
  std::string why;
  auto b = make_backend(&why);
  if (!b) GTEST_SKIP() << "no Vulkan device: " << why;
  const uint64_t before = vulkan::validation_message_count();
  std::vector<OpCase> cases = own_cases();
  for (const OpCase& c : all_op_cases())
    if (is_qconv(c)) cases.push_back(c);
  int on_device = 0, limited = 0;
  // Each case twice: the default kernel choice (qconv_i32_m4 for groups of 4 or more output
  // channels) and KILN_VK_QCONV=m1 (qconv_i32 everywhere).
  for (const OpCase& c : cases)
    for (const char* variant : {"", "m1"}) {
      SCOPED_TRACE(std::string("KILN_VK_QCONV=") + variant);
      setenv("KILN_VK_QCONV", variant, 1);
      std::string reason;
      const bool dev = check_case(b.get(), c, &reason);
      unsetenv("KILN_VK_QCONV");
      on_device += dev ? 1 : 0;
      if (c.name.find("wrap_72000_taps") != std::string::npos) {
        EXPECT_FALSE(dev) << c.name;
        EXPECT_NE(reason.find("loop iterations"), std::string::npos) << c.name << ": " << reason;
      } else if (!dev) {
        // Only the kernel's two documented limits may send a case to the CPU, and only shared
        // cases built for them (many taps).
        const bool limit = reason.find("loop iterations") != std::string::npos ||
                           reason.find("requantization's limit") != std::string::npos;
        EXPECT_TRUE(limit && c.name.find("/vk_") == std::string::npos)
            << c.name << " ran on the CPU: " << reason;
        ++limited;
      }
    }
  EXPECT_LE(limited, 4) << "more shared cases than expected hit the kernel's limits";
  std::printf("[ vulkan   ] %zu ConvInteger / QLinearConv cases x 2 kernels, %d on the device\n",
              cases.size(), on_device);
  EXPECT_GE(on_device, 2 * static_cast<int>(own_cases().size()));
  EXPECT_EQ(vulkan::validation_message_count(), before)
      << "the Vulkan validation layer reported messages (see the log above)";
}

// A QLinearConv whose sums could leave int32 (C/group x kernel = 3700 x 9 > 33025) runs on the
// CPU, with the reason; the results still agree.
TEST(VulkanQConv, LargeQLinearSumsFallBackWithReason) {
  std::string why;
  auto b = make_backend(&why);
  if (!b) GTEST_SKIP() << "no Vulkan device: " << why;
  const uint64_t before = vulkan::validation_message_count();
  OpCase c = make("sums_above_int32", "QLinearConv",
                  {q(u8, {1, 3700, 3, 3}), f32(0.01), scalar(u8, 128), q(u8, {2, 3700, 3, 3}, true),
                   f32(0.01), scalar(u8, 128), f32(5.0), scalar(u8, 128)});
  std::string reason;
  EXPECT_FALSE(check_case(b.get(), c, &reason));
  EXPECT_NE(reason.find("requantization's limit"), std::string::npos) << reason;
  EXPECT_EQ(vulkan::validation_message_count(), before);
}

// Constant scales whose multiplier is not finite (y_scale 0) are the CPU kernel's error: the node
// is not taken by the device, and the run reports it.
TEST(VulkanQConv, NonFiniteConstantMultiplierIsTheCpuError) {
  std::string why;
  auto b = make_backend(&why);
  if (!b) GTEST_SKIP() << "no Vulkan device: " << why;
  const uint64_t before = vulkan::validation_message_count();
  OpCase c = make("y_scale_zero", "QLinearConv",
                  {q(u8, {1, 3, 5, 5}), f32(0.01), scalar(u8, 128), q(u8, {2, 3, 3, 3}, true),
                   f32(0.01), scalar(u8, 128), f32(0.0), scalar(u8, 128)});
  BuiltCase bc = build_case(c);
  device::HybridExecutor dev(*bc.graph, b.get(), 1);
  ASSERT_TRUE(dev.prepare().is_ok());
  auto got = dev.run(bc.feeds);
  ASSERT_FALSE(got.has_value());
  EXPECT_NE(got.status().message().find("not finite"), std::string::npos)
      << got.status().to_string();
  EXPECT_EQ(vulkan::validation_message_count(), before);
}

}  // namespace
}  // namespace kiln::testing
