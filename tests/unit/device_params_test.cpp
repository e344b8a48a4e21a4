// Tests of the backend-neutral op parameter modules shared by the OpenCL and Vulkan backends
// (runtime/device/nn_params.h, runtime/device/data_params.h): refusals name the backend, hostile
// attributes and inputs give a clear Status, and Pad's copy ranges follow the CPU's rules.
#include <gtest/gtest.h>

#include <climits>
#include <cstring>

#include "runtime/device/data_params.h"
#include "runtime/device/nn_params.h"
#include "tests/unit/test_util.h"

namespace kiln {
namespace {

using device::InputInfo;
using testing::int_attr;
using testing::ints_attr;
using testing::str_attr;

constexpr device::DeviceTarget kCl{"OpenCL", "OpenCL kernel", false};
constexpr device::DeviceTarget kVk{"Vulkan", "Vulkan shader", true};

// One node of `op` at `opset` with `n_out` outputs, owned by the fixture's graph.
class DeviceParamsTest : public ::testing::Test {
 protected:
  ir::Node* node(const std::string& op, int opset, size_t n_out = 1) {
    g_.opsets()[""] = opset;
    std::vector<ir::Value*> outs;
    for (size_t i = 0; i < n_out; ++i) outs.push_back(*g_.add_value(g_.unique_name("out")));
    return *g_.add_node(op, "", {}, outs, g_.unique_name("n"));
  }
  static InputInfo f32(Shape s) {
    return InputInfo{{DType::kFloat32, std::move(s)}, nullptr, true};
  }
  InputInfo host_i64(std::vector<int64_t> v) {
    held_.push_back(std::make_unique<Tensor>(
        Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v)));
    return InputInfo{{DType::kInt64, {static_cast<int64_t>(v.size())}}, held_.back().get(), true};
  }

  ir::Graph g_;
  std::vector<std::unique_ptr<Tensor>> held_;
};

Status same_dtype(const InputInfo& b, DType x) {
  return b.desc.dtype == x ? Status::ok() : invalid_argument("bias must have the dtype of X");
}

TEST_F(DeviceParamsTest, NodeAttrsRemembersTheFirstWronglyTypedAttribute) {
  ir::Node* n = node("Conv", 17);
  n->set_attr("group", str_attr("two"));
  n->set_attr("strides", int_attr(1));
  device::NodeAttrs at{*n, {}};
  EXPECT_EQ(at.i("group", 1), 1);
  EXPECT_TRUE(at.ints("strides", {}).empty());
  EXPECT_FLOAT_EQ(at.f("missing", 0.5f), 0.5f);
  const Status st = at.check();
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("attribute group has the wrong type"), std::string::npos);
}

TEST_F(DeviceParamsTest, ConvShapeOnOddSizesWithGroupsAndBias) {
  ir::Node* n = node("Conv", 17);
  n->set_attr("group", int_attr(3));
  n->set_attr("pads", ints_attr({1, 0, 2, 1}));
  n->set_attr("strides", ints_attr({2, 1}));
  std::vector<InputInfo> in = {f32({1, 3, 13, 127}), f32({6, 1, 3, 1}), f32({6})};
  auto p = device::conv_shape(*n, in, kCl, same_dtype);
  ASSERT_TRUE(p.has_value()) << p.status().message();
  EXPECT_EQ(p->group, 3);
  EXPECT_EQ(p->cg, 1);
  EXPECT_EQ(p->mg, 2);
  EXPECT_TRUE(p->bias);
  EXPECT_EQ(p->out, (Shape{1, 6, 7, 128}));  // (13 + 3 - 3) / 2 + 1, 127 + 1 - 1 + 1
}

TEST_F(DeviceParamsTest, ConvShapeRefusesHostileShapesAndAttributes) {
  ir::Node* n = node("Conv", 17);
  std::vector<InputInfo> in = {f32({1, 4, 5, 5}), f32({2, 3, 3, 3})};
  auto p = device::conv_shape(*n, in, kCl, same_dtype);
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.status().message().find("W dim 1 must be C/group"), std::string::npos);

  n->set_attr("group", int_attr(0));
  in[1] = f32({2, 4, 3, 3});
  p = device::conv_shape(*n, in, kCl, same_dtype);
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.status().message().find("group must be positive"), std::string::npos);

  n->set_attr("group", int_attr(1));
  n->set_attr("kernel_shape", ints_attr({2, 2}));
  p = device::conv_shape(*n, in, kCl, same_dtype);
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.status().message().find("kernel_shape does not match W"), std::string::npos);

  n->set_attr("kernel_shape", ints_attr({3, 3}));
  in.push_back(InputInfo{{DType::kFloat16, {2}}, nullptr, true});
  p = device::conv_shape(*n, in, kCl, same_dtype);
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.status().message().find("bias must have the dtype of X"), std::string::npos);
}

TEST_F(DeviceParamsTest, GeometryLimitsNameTheBackend) {
  ir::Node* n = node("MaxPool", 12);
  n->set_attr("kernel_shape", ints_attr({2}));
  n->set_attr("strides", ints_attr({int64_t{1} << 31}));
  std::vector<InputInfo> in = {f32({1, 1, 7})};
  auto cl = device::pool_shape(*n, in, kCl);
  ASSERT_FALSE(cl.has_value());
  EXPECT_EQ(cl.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(cl.status().message().find("too large for the OpenCL kernel"), std::string::npos);
  auto vk = device::pool_shape(*n, in, kVk);
  ASSERT_FALSE(vk.has_value());
  EXPECT_NE(vk.status().message().find("too large for the Vulkan shader"), std::string::npos);
}

TEST_F(DeviceParamsTest, OnlyTheVulkanTargetLimitsPlaneSizes) {
  ir::Node* n = node("AveragePool", 19);
  n->set_attr("kernel_shape", ints_attr({1, 1, 2}));
  n->set_attr("strides", ints_attr({1, 1, 2}));
  // A 2^31-element input plane (2^30 outputs): each axis is fine, the plane is not.
  std::vector<InputInfo> in = {f32({1, 1, 2048, 1024, 1024})};
  auto cl = device::pool_shape(*n, in, kCl);
  ASSERT_TRUE(cl.has_value()) << cl.status().message();
  auto vk = device::pool_shape(*n, in, kVk);
  ASSERT_FALSE(vk.has_value());
  EXPECT_NE(vk.status().message().find("window or spatial size too large"), std::string::npos);
}

TEST_F(DeviceParamsTest, PoolShapeRefusesWhatTheKernelsDoNotRun) {
  ir::Node* n = node("MaxPool", 12, 2);
  n->set_attr("kernel_shape", ints_attr({3, 3}));
  std::vector<InputInfo> in = {f32({2, 3, 13, 13})};
  auto p = device::pool_shape(*n, in, kVk);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.status().message(), "MaxPool's Indices output is not computed on Vulkan");

  ir::Node* a = node("AveragePool", 19);
  a->set_attr("kernel_shape", ints_attr({3, 3}));
  a->set_attr("count_include_pad", int_attr(2));
  p = device::pool_shape(*a, in, kCl);
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.status().message().find("count_include_pad must be 0 or 1"), std::string::npos);

  a->set_attr("count_include_pad", int_attr(1));
  a->set_attr("ceil_mode", int_attr(1));
  a->set_attr("strides", ints_attr({2, 2}));
  p = device::pool_shape(*a, in, kCl);
  ASSERT_TRUE(p.has_value()) << p.status().message();
  EXPECT_EQ(p->mode, 2);
  EXPECT_EQ(p->out, (Shape{2, 3, 6, 6}));

  in[0].desc.dtype = DType::kFloat16;
  p = device::pool_shape(*a, in, kCl);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.status().message(), "only float32 pools on OpenCL");
}

TEST_F(DeviceParamsTest, ResizeNeedsHostScales) {
  ir::Node* n = node("Resize", 13);
  std::vector<InputInfo> in = {f32({1, 1, 4, 4}), InputInfo{{DType::kFloat32, {0}}, nullptr, true},
                               InputInfo{{DType::kFloat32, {4}}, nullptr, true}};
  auto p = device::resize_node_params(*n, in);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.status().message(), "roi, scales and sizes must be known on the host");
}

TEST_F(DeviceParamsTest, ResampleRefusesWhatTheKernelsDoNotRun) {
  ir::Node* n = node("Resize", 13);
  std::vector<InputInfo> in = {InputInfo{{DType::kFloat16, {1, 1, 4, 4}}, nullptr, true}};
  auto p = device::resample_params(*n, in, kVk);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.status().message(), "only float32 Resize on Vulkan");
  in[0] = f32({1, 1, 1, 1, 1, 1, 1, 1, 1});
  p = device::resample_params(*n, in, kCl);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.status().message(), "rank above 8");
  // Sizes of 2^16 x 2^16 x 2^0 ... give an output of 2^32 elements.
  ir::Node* u = node("Upsample", 9);
  held_.push_back(
      std::make_unique<Tensor>(Tensor::from_vector<float>({4}, {1.0f, 1.0f, 16384.0f, 16384.0f})));
  in = {f32({1, 1, 4, 4}), InputInfo{{DType::kFloat32, {4}}, held_.back().get(), true}};
  p = device::resample_params(*u, in, kCl);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.status().message(), "output of 2^31 or more elements");
}

TEST_F(DeviceParamsTest, PadRangesWithCropsAndAxes) {
  ir::Node* n = node("Pad", 18);
  n->set_attr("mode", str_attr("reflect"));
  // Axes 2 and 0 of a [5, 1, 13] input: axis 2 gets 3 before, crops 2 at the end; axis 0 crops 1
  // before and gets 4 after.
  std::vector<InputInfo> in = {f32({5, 1, 13}), host_i64({3, -1, -2, 4}),
                               InputInfo{{}, nullptr, false}, host_i64({2, 0})};
  auto p = device::pad_params(*n, in);
  ASSERT_TRUE(p.has_value()) << p.status().message();
  EXPECT_EQ(p->mode_code, device::kPadReflect);
  EXPECT_EQ(p->out, (Shape{8, 1, 14}));
  EXPECT_EQ(p->lo, (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(p->cnt, (std::vector<int64_t>{4, 1, 11}));
  EXPECT_EQ(p->before, (std::vector<int64_t>{0, 0, 3}));
  EXPECT_FALSE(p->cv_input);
}

TEST_F(DeviceParamsTest, PadRefusesHostileParameters) {
  ir::Node* n = node("Pad", 13);
  std::vector<InputInfo> in = {f32({2, 3}), host_i64({0, -4, 0, 0})};
  auto p = device::pad_params(*n, in);
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.status().message().find("are invalid for input shape"), std::string::npos);

  in[1] = host_i64({0, 0, 0});
  p = device::pad_params(*n, in);
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.status().message().find("'pads' has 3 entries, expected 4"), std::string::npos);

  in[1] = host_i64({0, INT64_MAX, 0, 1});
  p = device::pad_params(*n, in);
  ASSERT_FALSE(p.has_value());

  n->set_attr("mode", str_attr("wrap"));  // wrap needs opset 19
  in[1] = host_i64({0, 0, 0, 0});
  p = device::pad_params(*n, in);
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.status().message().find("unknown mode 'wrap'"), std::string::npos);

  n->set_attr("mode", str_attr("edge"));
  in[0] = f32({2, 0});
  in[1] = host_i64({0, 1, 0, 1});
  p = device::pad_params(*n, in);
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.status().message().find("cannot pad an empty axis"), std::string::npos);
}

TEST_F(DeviceParamsTest, PadBeforeOpset11ReadsAttributesLikeTheCpu) {
  ir::Node* n = node("Pad", 2);
  std::vector<InputInfo> in = {f32({3})};
  auto p = device::pad_params(*n, in);
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.status().message().find("attribute 'pads' is required"), std::string::npos);

  n->set_attr("pads", ints_attr({1, 2}));
  n->set_attr("value", int_attr(7));  // an int value reads as 7.0, as on the CPU
  p = device::pad_params(*n, in);
  ASSERT_TRUE(p.has_value()) << p.status().message();
  float v = 0;
  std::memcpy(&v, &p->cbits, sizeof(v));
  EXPECT_EQ(v, 7.0f);
  EXPECT_EQ(p->out, (Shape{6}));
}

TEST_F(DeviceParamsTest, PadSupportsChecksHostInputsAndTheConstant) {
  ir::Node* n = node("Pad", 18);
  std::vector<InputInfo> in = {f32({2, 3}), InputInfo{{DType::kInt64, {4}}, nullptr, true}};
  device::Support s = device::pad_supports(*n, in, device::Support::yes());
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.reason, "input 1 is not on the host");
  in[1] = host_i64({0, 0, 0, 0});
  in.push_back(InputInfo{{DType::kFloat16, {}}, nullptr, true});
  s = device::pad_supports(*n, in, device::Support::yes());
  EXPECT_EQ(s.reason, "constant_value dtype differs from the data");
  s = device::pad_supports(*n, in, device::Support::no("data"));
  EXPECT_EQ(s.reason, "data");
}

}  // namespace
}  // namespace kiln
