// Vulkan elementwise kernels in place and above the binding limit, with the Khronos validation
// layer on. In place: a chain of unary, binary and Cast ops writes over its dying inputs
// (DeviceKernel::inplace_of), giving a smaller arena (KILN_INPLACE=0 vs on) and the same bits
// as the CPU. Split: unary, IsNaN, Cast and same-shape binary steps are one-dimensional
// (VkStep::linear_n_word) and run in chunks when KILN_VK_MAX_BINDING_BYTES lowers the limit;
// broadcast binary ops on such tensors are refused with the reason and run on the CPU. Results
// are compared with the CPU reference; any validation message fails the test; no Vulkan device
// is a visible skip.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/tools/conformance.h"
#include "runtime/vulkan/vulkan_backend.h"
#include "tests/opcases/op_case.h"

namespace kiln::testing {
namespace {

constexpr uint64_t kLimit = 16384;  // bytes per binding: 4096 float32 elements

struct Made {
  std::unique_ptr<vulkan::VulkanBackend> backend;
  std::string reason;
};

// A validated backend with bindings limited to kLimit bytes; a static built from the created
// backend, so it is destroyed before the loader's and the validation layer's statics at exit.
vulkan::VulkanBackend* limited_backend(std::string* why) {
  static Made made = [] {
    setenv("KILN_VK_VALIDATION", "1", 1);
    setenv("KILN_VK_MAX_BINDING_BYTES", std::to_string(kLimit).c_str(), 1);
    auto r = vulkan::VulkanBackend::create("vulkan");
    unsetenv("KILN_VK_MAX_BINDING_BYTES");
    if (!r) return Made{nullptr, r.status().message()};
    return Made{std::move(*r), ""};
  }();
  *why = made.reason;
  return made.backend.get();
}

OpCase make(std::string name, std::string op, int opset, std::vector<InputSpec> inputs, double tol,
            std::map<std::string, ir::Attribute> attrs = {}) {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.opset = opset;
  c.inputs = std::move(inputs);
  c.attrs = std::move(attrs);
  c.atol = c.rtol = tol;
  return c;
}

InputSpec typed(DType dt, Shape s, double lo, double hi) {
  InputSpec i = in_f32(std::move(s), lo, hi);
  i.dtype = dt;
  return i;
}

// Runs the case on the CPU and twice (the second replays the recorded command buffer) on the
// limited backend; `on_device`: whether the node must run on Vulkan (else it must be refused
// with a reason naming the binding range). A device run of the first pass takes several chunks.
void expect_matches(vulkan::VulkanBackend* b, const OpCase& c, bool on_device) {
  SCOPED_TRACE("case " + c.name);
  BuiltCase bc = build_case(c);
  cpu::Executor ref(*bc.graph, 1);
  auto want = ref.run(bc.feeds);
  ASSERT_TRUE(want.has_value()) << want.status().to_string();
  bool large = false;
  for (const Tensor& t : *want) large |= t.nbytes() > kLimit;
  for (const auto& [n, t] : bc.feeds) large |= t.nbytes() > kLimit;
  EXPECT_TRUE(large) << "the case does not exceed the lowered limit";
  device::HybridExecutor dev(*bc.graph, b, 1);
  ASSERT_TRUE(dev.prepare().is_ok());
  for (int r = 0; r < 2; ++r) {
    const uint64_t before = b->context().dispatches_submitted();
    auto got = dev.run(bc.feeds);
    ASSERT_TRUE(got.has_value()) << got.status().to_string();
    ASSERT_EQ(dev.last_assignment().size(), 1u);
    EXPECT_EQ(dev.last_assignment()[0].on_device, on_device) << dev.last_assignment()[0].reason;
    if (on_device && r == 0) {
      EXPECT_GE(b->context().dispatches_submitted() - before, 2u);
    }
    if (!on_device) {
      EXPECT_NE(dev.last_assignment()[0].reason.find("binding range"), std::string::npos)
          << dev.last_assignment()[0].reason;
    }
    ASSERT_EQ(got->size(), want->size());
    for (size_t o = 0; o < want->size(); ++o) {
      tools::Comparison cmp = tools::compare_tensors((*got)[o], (*want)[o], c.rtol, c.atol);
      EXPECT_TRUE(cmp.ok) << "output " << o << ": " << cmp.message;
    }
  }
}

TEST(VulkanElementwiseSplit, LinearStepsAboveTheBindingLimitMatchCpu) {
  std::string why;
  vulkan::VulkanBackend* b = limited_backend(&why);
  if (!b) GTEST_SKIP() << "no Vulkan device: " << why;
  const uint64_t validation_before = vulkan::validation_message_count();
  ASSERT_EQ(b->context().max_binding_bytes(), kLimit);
  std::vector<OpCase> cases;
  // Odd sizes spanning two to four windows; Relu, Neg and the same-shape Add/Mul are exact.
  cases.push_back(make("Relu/10007", "Relu", 14, {in_f32({10007}, -2, 2)}, 0));
  cases.push_back(make("Neg/13x1001", "Neg", 14, {in_f32({13, 1001}, -2, 2)}, 0));
  cases.push_back(make("Sigmoid/4099", "Sigmoid", 14, {in_f32({4099}, -8, 8)}, 1e-5));
  {
    InputSpec lo = const_f32({}, 0, 0), hi = const_f32({}, 6, 6);
    lo.values = {0.0};
    hi.values = {6.0};
    cases.push_back(make("Clip/relu6_8193", "Clip", 13, {in_f32({8193}, -3, 9), lo, hi}, 0));
  }
  cases.push_back(make("IsNaN/5003", "IsNaN", 13, {in_f32({5003})}, 0));
  cases.push_back(
      make("Add/same_3x4001", "Add", 14, {in_f32({3, 4001}, -2, 2), in_f32({3, 4001}, -2, 2)}, 0));
  cases.push_back(
      make("Mul/same_12289", "Mul", 14, {in_f32({12289}, -2, 2), in_f32({12289}, -2, 2)}, 0));
  // Cast with different element sizes on each side (the larger one sets the chunk).
  cases.push_back(make("Cast/f32_to_i64_4099", "Cast", 13, {in_f32({4099}, -1000, 1000)}, 0,
                       {{"to", attr_i(7)}}));
  cases.push_back(make("Cast/i64_to_f32_5001", "Cast", 13,
                       {typed(DType::kInt64, {5001}, -100000, 100000)}, 0, {{"to", attr_i(1)}}));
  cases.push_back(
      make("Cast/f32_to_bool_9001", "Cast", 13, {in_f32({9001}, -1, 1)}, 0, {{"to", attr_i(9)}}));
  for (const OpCase& c : cases) expect_matches(b, c, true);
  // A broadcast Add over a large output is not one-dimensional: refused, runs on the CPU.
  expect_matches(b, make("Add/bcast_9x1001", "Add", 14, {in_f32({9, 1001}), in_f32({1001})}, 0),
                 false);
  EXPECT_EQ(vulkan::validation_message_count(), validation_before)
      << "the Vulkan validation layer reported messages (see the log above)";
}

// x -> Relu -> Neg -> Mul(., w) -> Add(., bias row) -> Cast(int32) -> Cast(float32), all on
// Vulkan: with in-place on, every output but the first may take its dying input's bytes.
TEST(VulkanInplace, ElementwiseChainGetsASmallerArena) {
  setenv("KILN_VK_VALIDATION", "1", 1);
  static Made made = [] {
    auto r = vulkan::VulkanBackend::create("vulkan");
    if (!r) return Made{nullptr, r.status().message()};
    return Made{std::move(*r), ""};
  }();
  if (!made.backend) GTEST_SKIP() << "no Vulkan device: " << made.reason;
  vulkan::VulkanBackend* b = made.backend.get();
  const uint64_t validation_before = vulkan::validation_message_count();

  ir::Graph g;
  g.opsets()[""] = 17;
  ir::ValueInfo f32;
  f32.dtype = DType::kFloat32;
  auto value = [&](const char* name) { return g.add_value(name, f32).value(); };
  ir::Value *x = value("x"), *w = value("w"), *bias = value("bias");
  for (ir::Value* v : {x, w, bias}) g.add_input(v);
  ir::Value *r = value("r"), *n = value("n"), *m = value("m"), *a = value("a"),
            *c = g.add_value("c").value(), *y = value("y");
  ASSERT_TRUE(g.add_node("Relu", "", {x}, {r}).has_value());
  ASSERT_TRUE(g.add_node("Neg", "", {r}, {n}).has_value());
  ASSERT_TRUE(g.add_node("Mul", "", {n, w}, {m}).has_value());
  ASSERT_TRUE(g.add_node("Add", "", {m, bias}, {a}).has_value());
  ir::Node* to_int = g.add_node("Cast", "", {a}, {c}).value();
  to_int->set_attr("to", attr_i(6));  // int32: same element size, exact for these values
  ir::Node* to_float = g.add_node("Cast", "", {c}, {y}).value();
  to_float->set_attr("to", attr_i(1));
  g.add_output(y);

  const int64_t rows = 13, cols = 1001;  // 52 KB per tensor
  Tensor tx = Tensor::create(DType::kFloat32, {rows, cols}).value();
  Tensor tw = Tensor::create(DType::kFloat32, {rows, cols}).value();
  Tensor tb = Tensor::create(DType::kFloat32, {cols}).value();
  for (int64_t i = 0; i < rows * cols; ++i) {
    tx.data<float>()[i] = static_cast<float>((i * 37) % 201 - 100) * 0.75f;
    tw.data<float>()[i] = static_cast<float>((i * 11) % 7) - 3.0f;
  }
  for (int64_t i = 0; i < cols; ++i) tb.data<float>()[i] = static_cast<float>(i % 9) * 0.5f;
  const std::map<std::string, Tensor> feeds = {{"x", tx}, {"w", tw}, {"bias", tb}};

  cpu::Executor ref(g, 1);
  auto want = ref.run(feeds);
  ASSERT_TRUE(want.has_value()) << want.status().to_string();

  size_t arena[2] = {0, 0}, inplace[2] = {0, 0};
  for (int on = 0; on < 2; ++on) {
    SCOPED_TRACE(on ? "in place" : "KILN_INPLACE=0");
    setenv("KILN_INPLACE", on ? "1" : "0", 1);
    device::HybridExecutor dev(g, b, 1);
    ASSERT_TRUE(dev.prepare().is_ok());
    unsetenv("KILN_INPLACE");
    for (int run = 0; run < 2; ++run) {  // the second run replays the recorded plan
      auto got = dev.run(feeds);
      ASSERT_TRUE(got.has_value()) << got.status().to_string();
      for (const auto& as : dev.last_assignment())
        EXPECT_TRUE(as.on_device) << "ran on the CPU: " << as.reason;
      ASSERT_EQ(got->size(), 1u);
      ASSERT_EQ((*got)[0].nbytes(), (*want)[0].nbytes());
      EXPECT_EQ(std::memcmp((*got)[0].raw_data(), (*want)[0].raw_data(), (*want)[0].nbytes()), 0);
    }
    arena[on] = dev.last_arena_bytes();
    inplace[on] = dev.last_inplace_outputs();
  }
  RecordProperty("arena_bytes_inplace_off", static_cast<int>(arena[0]));
  RecordProperty("arena_bytes_inplace_on", static_cast<int>(arena[1]));
  RecordProperty("inplace_outputs", static_cast<int>(inplace[1]));
  EXPECT_EQ(inplace[0], 0u);
  EXPECT_GE(inplace[1], 4u);  // Neg, Mul, Add, both Casts (Relu's input x may be kept)
  EXPECT_LT(arena[1], arena[0]);
  EXPECT_EQ(vulkan::validation_message_count(), validation_before)
      << "the Vulkan validation layer reported messages (see the log above)";
}

}  // namespace
}  // namespace kiln::testing
