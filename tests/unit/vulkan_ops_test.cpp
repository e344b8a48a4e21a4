// The Vulkan backend against the CPU reference, with the Khronos validation layer on: every
// OpCase whose op has a Vulkan kernel, buffer round trips at offsets, a plan recorded once and
// replayed, and the example encoder through Session. Any validation message fails the test; no
// Vulkan device is a visible skip.
#include <gtest/gtest.h>

#include <algorithm>

#include <cstdlib>
#include <cstring>
#include <set>

#include "graph/onnx/importer.h"
#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/io/npy.h"
#include "runtime/session.h"
#include "runtime/tools/conformance.h"
#include "runtime/vulkan/spirv.h"
#include "runtime/vulkan/vulkan_backend.h"
#include "tests/opcases/op_case.h"

namespace kiln::testing {

// tests/opcases/cases_vulkan_extra.cpp
std::vector<OpCase> vulkan_extra_cases();

namespace {

// The shared OpCases and the Vulkan extras.
const std::vector<OpCase>& vulkan_cases() {
  static const std::vector<OpCase> all = [] {
    std::vector<OpCase> v = all_op_cases();
    for (auto& c : vulkan_extra_cases()) v.push_back(std::move(c));
    return v;
  }();
  return all;
}

// One backend for the whole file (instance + validation layer setup is the slow part).
vulkan::VulkanBackend* backend(std::string* why = nullptr) {
  static std::string reason;
  static std::unique_ptr<vulkan::VulkanBackend> b = [] {
    setenv("KILN_VK_VALIDATION", "1", 1);
    auto r = vulkan::VulkanBackend::create("vulkan");
    if (!r) {
      reason = r.status().message();
      return std::unique_ptr<vulkan::VulkanBackend>();
    }
    return std::move(*r);
  }();
  if (why) *why = reason;
  return b.get();
}

#define VK_BACKEND_OR_SKIP(var)                   \
  std::string why_;                               \
  vulkan::VulkanBackend* var = backend(&why_);    \
  if (!var) {                                     \
    GTEST_SKIP() << "no Vulkan device: " << why_; \
  }                                               \
  [[maybe_unused]] const uint64_t validation_before_ = vulkan::validation_message_count()

#define EXPECT_VALIDATION_CLEAN()                                   \
  EXPECT_EQ(vulkan::validation_message_count(), validation_before_) \
      << "the Vulkan validation layer reported messages (see the log above)"

// The registry key of a case's op ("Gelu", "com.microsoft.Gelu").
std::string op_key(const OpCase& c) {
  return c.domain.empty() ? c.op : c.domain + "." + c.op;
}

// Dtypes the Vulkan shaders take: a case using another one may run on the CPU.
bool vulkan_dtypes(const OpCase& c) {
  if (c.op == "Cast") {  // float32, int32, int64, bool (ONNX codes 1, 6, 7, 9)
    auto it = c.attrs.find("to");
    if (it == c.attrs.end() ||
        !(it->second.i == 1 || it->second.i == 6 || it->second.i == 7 || it->second.i == 9))
      return false;
  }
  for (const InputSpec& s : c.inputs)
    if (!s.omitted && s.dtype != DType::kFloat32 && s.dtype != DType::kInt64 &&
        s.dtype != DType::kInt32 && s.dtype != DType::kBool)
      return false;
  // Integer data (not constant shape-like inputs such as axes) only moves: the arithmetic
  // shaders are float32.
  static const std::set<std::string> moves = {
      "Cast",    "Gather",    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity",
      "Dropout", "Transpose", "Expand",  "Slice",   "Concat",  "Split"};
  if (!moves.count(c.op)) {
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const InputSpec& s = c.inputs[i];
      const bool where_condition = c.op == "Where" && i == 0;
      if (!s.omitted && !s.constant && !where_condition &&
          (s.dtype == DType::kInt64 || s.dtype == DType::kInt32))
        return false;
    }
  }
  return true;
}

TEST(VulkanShaders, EveryVariantIsEmbedded) {
  auto names = vulkan::spirv_names();
  EXPECT_GE(names.size(), 20u);
  for (const auto& n : names) {
    auto words = vulkan::spirv_for(n);
    ASSERT_GT(words.size(), 5u) << n;
    EXPECT_EQ(words[0], 0x07230203u) << n << " is not SPIR-V";
  }
  EXPECT_TRUE(vulkan::spirv_for("no_such_shader").empty());
}

TEST(VulkanOps, EveryCaseMatchesCpu) {
  VK_BACKEND_OR_SKIP(b);
  auto ops = vulkan::vk_registry().ops();
  std::set<std::string> registered(ops.begin(), ops.end());
  int checked = 0, on_cpu = 0;
  for (const OpCase& c : vulkan_cases()) {
    if (!registered.count(op_key(c))) continue;
    if (const char* f = std::getenv("KILN_OPCASE_FILTER"); f && c.name.find(f) == std::string::npos)
      continue;
    SCOPED_TRACE("case " + c.name);
    BuiltCase bc = build_case(c);
    if (!bc.graph->verify().is_ok()) {
      ADD_FAILURE() << c.name << ": the case's graph does not verify";
      continue;
    }
    cpu::Executor ref(*bc.graph, 1);
    auto want = ref.run(bc.feeds);
    if (!want) {
      ADD_FAILURE() << c.name << ": CPU reference failed: " << want.status().to_string();
      continue;
    }
    device::HybridExecutor dev(*bc.graph, b, 1);
    ASSERT_TRUE(dev.prepare().is_ok());
    auto got = dev.run(bc.feeds);
    if (!got) {
      ADD_FAILURE() << c.name << ": device run failed: " << got.status().to_string();
      continue;
    }
    ASSERT_EQ(dev.last_assignment().size(), 1u);
    if (!dev.last_assignment()[0].on_device) {
      ++on_cpu;
      // Only dtypes without a Vulkan shader may fall back, and what the executor itself keeps
      // on the host (integer shape arithmetic).
      const std::string& why = dev.last_assignment()[0].reason;
      const bool cpu_ok = std::find(c.cpu_ok_on.begin(), c.cpu_ok_on.end(), "vulkan") !=
                          c.cpu_ok_on.end();
      EXPECT_TRUE(!vulkan_dtypes(c) || cpu_ok || why.rfind("shape computation", 0) == 0)
          << c.name << " fell back to the CPU: " << dev.last_assignment()[0].reason;
    }
    ASSERT_EQ(got->size(), want->size());
    for (size_t o = 0; o < want->size(); ++o) {
      tools::Comparison cmp = tools::compare_tensors((*got)[o], (*want)[o], c.rtol, c.atol);
      EXPECT_TRUE(cmp.ok) << c.name << " output " << o << ": " << cmp.message;
    }
    auto again = dev.run(bc.feeds);
    ASSERT_TRUE(again.has_value()) << again.status().to_string();
    for (size_t o = 0; o < got->size(); ++o)
      EXPECT_EQ(std::memcmp((*again)[o].raw_data(), (*got)[o].raw_data(), (*got)[o].nbytes()), 0)
          << c.name << ": a replay changed output " << o;
    ++checked;
  }
  EXPECT_GT(checked, 0);
  std::printf("[ vulkan   ] %d cases checked, %d ran on the CPU (dtype without a shader)\n",
              checked, on_cpu);
  EXPECT_VALIDATION_CLEAN();
}

TEST(VulkanOps, EveryKernelHasACase) {
  std::set<std::string> with_case;
  for (const OpCase& c : vulkan_cases()) with_case.insert(op_key(c));
  for (const std::string& op : vulkan::vk_registry().ops())
    EXPECT_TRUE(with_case.count(op)) << "Vulkan kernel for " << op << " has no OpCase";
}

TEST(VulkanBackend, RoundTripsAtOffsets) {
  VK_BACKEND_OR_SKIP(b);
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kInt64, DType::kUInt8, DType::kBool}) {
    for (int64_t n : {1, 13, 127, 1 << 18}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " x " + std::to_string(n));
      Tensor src = Tensor::create(dt, {n}).value();
      auto* bytes = static_cast<uint8_t*>(src.raw_data());
      for (size_t i = 0; i < src.nbytes(); ++i)
        bytes[i] = static_cast<uint8_t>((i * 131 + 7) & 0xff);
      if (dt == DType::kBool)
        for (size_t i = 0; i < src.nbytes(); ++i) bytes[i] &= 1;
      for (size_t offset : {size_t{0}, size_t{8}, size_t{256 * 3 + 24}}) {
        auto buf = b->allocate(offset + src.nbytes());
        ASSERT_TRUE(buf.has_value()) << buf.status().to_string();
        device::DeviceTensor d{{dt, {n}}, *buf, offset};
        ASSERT_TRUE(b->upload(src, d).is_ok());
        Tensor back = Tensor::create(dt, {n}).value();
        ASSERT_TRUE(b->download(d, &back).is_ok());
        EXPECT_EQ(std::memcmp(back.raw_data(), src.raw_data(), src.nbytes()), 0);
      }
    }
  }
  EXPECT_VALIDATION_CLEAN();
}

TEST(VulkanBackend, TooLargeAllocationIsAClearError) {
  VK_BACKEND_OR_SKIP(b);
  auto buf = b->allocate(size_t{1} << 50);
  ASSERT_FALSE(buf.has_value());
  EXPECT_EQ(buf.status().code(), StatusCode::kOutOfMemory);
}

// A tensor larger than the binding range is refused with the reason by a kernel that cannot split
// (Softmax; the elementwise ops split), and then runs on the CPU.
TEST(VulkanBackend, OversizedTensorIsRefused) {
  VK_BACKEND_OR_SKIP(b);
  ir::Graph g;
  g.opsets()[""] = 17;
  const int64_t n = static_cast<int64_t>(b->context().max_binding_bytes() / 4 + 1);
  ir::Value* x = g.add_value("x").value();
  g.add_input(x);
  ir::Value* y = g.add_value("y").value();
  ir::Node* node = g.add_node("Softmax", "", {x}, {y}).value();
  g.add_output(y);
  device::InputInfo info;
  info.desc = {DType::kFloat32, {n}};
  device::Support s = b->supports(*node, {info});
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.reason.find("binding range"), std::string::npos) << s.reason;
}

std::map<std::string, Tensor> encoder_feeds(int64_t batch, int64_t seq) {
  Tensor ids = Tensor::create(DType::kInt64, {batch, seq}).value();
  Tensor mask = Tensor::create(DType::kInt64, {batch, seq}).value();
  for (int64_t i = 0; i < batch * seq; ++i) {
    ids.data<int64_t>()[i] = (i * 53 + 5) % 1000;
    mask.data<int64_t>()[i] = (i % seq) < seq - 2 ? 1 : 0;
  }
  return {{"input_ids", ids}, {"attention_mask", mask}};
}

// The same memory plan run again submits the command buffers recorded before: after the run
// that builds the plan and the first run with it, 20 more runs record nothing.
TEST(VulkanBackend, PlanIsRecordedOnceAndReplayed) {
  VK_BACKEND_OR_SKIP(b);
  auto model =
      onnx_io::load_model(std::string(KILN_SOURCE_DIR) + "/tests/models/example/encoder.onnx");
  ASSERT_TRUE(model.has_value()) << model.status().to_string();
  device::HybridExecutor dev(*model->graph, b, 1);
  ASSERT_TRUE(dev.prepare().is_ok());
  auto feeds = encoder_feeds(2, 11);
  auto first = dev.run(feeds);
  ASSERT_TRUE(first.has_value()) << first.status().to_string();
  auto second = dev.run(feeds);  // the first run with the memory plan
  ASSERT_TRUE(second.has_value()) << second.status().to_string();
  const uint64_t recordings = b->context().recordings();
  const uint64_t replays = b->context().replays();
  const size_t kernels = dev.kernels_prepared();
  for (int r = 0; r < 20; ++r) {
    auto again = dev.run(feeds);
    ASSERT_TRUE(again.has_value()) << again.status().to_string();
    for (size_t o = 0; o < first->size(); ++o)
      ASSERT_EQ(std::memcmp((*again)[o].raw_data(), (*first)[o].raw_data(), (*first)[o].nbytes()),
                0)
          << "replay " << r << " changed output " << o;
  }
  EXPECT_EQ(b->context().recordings(), recordings) << "a replayed plan was recorded again";
  EXPECT_GE(b->context().replays(), replays + 20);
  EXPECT_EQ(dev.kernels_prepared(), kernels);
  EXPECT_EQ(dev.plans_built(), 1u);
  // Every node of the encoder runs on the device except shape arithmetic.
  int on_device = 0;
  for (const auto& a : dev.last_assignment()) on_device += a.on_device ? 1 : 0;
  EXPECT_GT(on_device, 100);
  EXPECT_VALIDATION_CLEAN();
}

// The bundled example on --device vulkan equals the CPU within 1e-4.
TEST(VulkanModel, ExampleEncoderMatchesCpu) {
  VK_BACKEND_OR_SKIP(b);
  (void)b;
  const std::string dir = std::string(KILN_SOURCE_DIR) + "/tests/models/example/";
  std::map<std::string, Tensor> feeds;
  for (const char* name : {"input_ids", "attention_mask"}) {
    auto t = io::read_npy(dir + "inputs/" + name + ".npy");
    ASSERT_TRUE(t.has_value()) << t.status().to_string();
    feeds[name] = *t;
  }
  SessionOptions cpu_opts;
  cpu_opts.device = "cpu";
  cpu_opts.threads = 1;
  auto cpu = Session::load(dir + "encoder.onnx", cpu_opts);
  ASSERT_TRUE(cpu.has_value()) << cpu.status().to_string();
  SessionOptions vk_opts = cpu_opts;
  vk_opts.device = "vulkan";
  auto vk = Session::load(dir + "encoder.onnx", vk_opts);
  ASSERT_TRUE(vk.has_value()) << vk.status().to_string();
  EXPECT_NE((*vk)->device().find("vulkan"), std::string::npos);
  auto want = (*cpu)->run(feeds);
  ASSERT_TRUE(want.has_value()) << want.status().to_string();
  for (int r = 0; r < 3; ++r) {
    auto got = (*vk)->run(feeds);
    ASSERT_TRUE(got.has_value()) << got.status().to_string();
    ASSERT_EQ(got->size(), want->size());
    for (size_t o = 0; o < want->size(); ++o) {
      tools::Comparison c = tools::compare_tensors((*got)[o], (*want)[o], 1e-4, 1e-4);
      EXPECT_TRUE(c.ok) << "run " << r << " output " << o << ": " << c.message;
    }
  }
  EXPECT_VALIDATION_CLEAN();
}

}  // namespace
}  // namespace kiln::testing
