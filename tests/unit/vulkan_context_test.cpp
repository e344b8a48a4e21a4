// VkContext features beyond single ops, with the Khronos validation layer on: device-clock timing
// through timestamp queries (profiled runs, replayed command buffers), and the split paths for
// tensors above the storage-buffer binding limit, run on small tensors with the limit lowered
// through KILN_VK_MAX_BINDING_BYTES and compared with the CPU reference. Any validation message
// fails the test; no Vulkan device is a visible skip.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "graph/onnx/importer.h"
#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/tools/conformance.h"
#include "runtime/vulkan/vk_ops_util.h"
#include "runtime/vulkan/vulkan_backend.h"
#include "tests/opcases/op_case.h"

namespace kiln::testing {
namespace {

constexpr uint64_t kSmallLimit = 16384;  // bytes per binding for the split tests

// A backend with validation on and, when `limit` > 0, bindings limited to `limit` bytes. Each is
// a static constructed from the created backend, so it is destroyed before the Vulkan loader's
// and the validation layer's own statics (made while creating it) at exit.
struct Made {
  std::unique_ptr<vulkan::VulkanBackend> backend;
  std::string reason;
};

Made make_backend(uint64_t limit) {
  setenv("KILN_VK_VALIDATION", "1", 1);
  if (limit > 0) setenv("KILN_VK_MAX_BINDING_BYTES", std::to_string(limit).c_str(), 1);
  auto r = vulkan::VulkanBackend::create("vulkan");
  unsetenv("KILN_VK_MAX_BINDING_BYTES");
  if (!r) return {nullptr, r.status().message()};
  return {std::move(*r), ""};
}

vulkan::VulkanBackend* backend(uint64_t limit, std::string* why) {
  if (limit == 0) {
    static Made plain = make_backend(0);
    *why = plain.reason;
    return plain.backend.get();
  }
  static Made small = make_backend(kSmallLimit);
  *why = small.reason;
  return small.backend.get();
}

#define VK_OR_SKIP(var, limit)                        \
  std::string why_;                                   \
  vulkan::VulkanBackend* var = backend(limit, &why_); \
  if (!var) {                                         \
    GTEST_SKIP() << "no Vulkan device: " << why_;     \
  }                                                   \
  const uint64_t validation_before_ = vulkan::validation_message_count()

#define EXPECT_VALIDATION_CLEAN()                                   \
  EXPECT_EQ(vulkan::validation_message_count(), validation_before_) \
      << "the Vulkan validation layer reported messages (see the log above)"

std::map<std::string, Tensor> encoder_feeds(int64_t batch, int64_t seq) {
  Tensor ids = Tensor::create(DType::kInt64, {batch, seq}).value();
  Tensor mask = Tensor::create(DType::kInt64, {batch, seq}).value();
  for (int64_t i = 0; i < batch * seq; ++i) {
    ids.data<int64_t>()[i] = (i * 53 + 5) % 1000;
    mask.data<int64_t>()[i] = (i % seq) < seq - 2 ? 1 : 0;
  }
  return {{"input_ids", ids}, {"attention_mask", mask}};
}

// Profiled runs time device nodes on the device clock: every node that ran on Vulkan has a
// device_clock event, their durations add up to no more than the run's wall time, the outputs
// equal an unprofiled run's, and a replayed (timed) command buffer still gives timings.
TEST(VulkanTiming, ProfiledRunsGiveDeviceClockEvents) {
  VK_OR_SKIP(b, 0);
  if (!b->supports_timing()) GTEST_SKIP() << "the Vulkan compute queue has no timestamps";
  auto model =
      onnx_io::load_model(std::string(KILN_SOURCE_DIR) + "/tests/models/example/encoder.onnx");
  ASSERT_TRUE(model.has_value()) << model.status().to_string();
  device::HybridExecutor dev(*model->graph, b, 1);
  ASSERT_TRUE(dev.prepare().is_ok());
  auto feeds = encoder_feeds(2, 11);
  auto plain = dev.run(feeds);  // builds the memory plan
  ASSERT_TRUE(plain.has_value()) << plain.status().to_string();
  plain = dev.run(feeds);  // the untimed recording with the plan
  ASSERT_TRUE(plain.has_value()) << plain.status().to_string();
  dev.set_profiling(true);
  for (int r = 0; r < 3; ++r) {
    SCOPED_TRACE("profiled run " + std::to_string(r));
    auto got = dev.run(feeds);
    ASSERT_TRUE(got.has_value()) << got.status().to_string();
    for (size_t o = 0; o < plain->size(); ++o)
      EXPECT_EQ(std::memcmp((*got)[o].raw_data(), (*plain)[o].raw_data(), (*plain)[o].nbytes()), 0)
          << "profiling changed output " << o;
    const RunProfile& p = dev.last_profile();
    int device_events = 0, timed = 0;
    double sum = 0;
    for (const ProfileEvent& e : p.events) {
      if (e.track == "cpu") continue;
      ++device_events;
      if (e.device_clock) {
        ++timed;
        EXPECT_GE(e.dur_us, 0) << e.node;
        sum += e.dur_us;
      }
    }
    EXPECT_GT(device_events, 50);
    EXPECT_GT(timed, device_events / 2) << "device nodes without a device-clock interval";
    EXPECT_GT(sum, 0);
    EXPECT_LE(sum, p.run_us) << "device-clock durations add up to more than the run";
  }
  // Timing off again: the untimed recording is replayed and the outputs are unchanged.
  dev.set_profiling(false);
  const uint64_t rec = b->context().recordings();
  auto again = dev.run(feeds);
  ASSERT_TRUE(again.has_value()) << again.status().to_string();
  EXPECT_EQ(b->context().recordings(), rec) << "turning timing off recorded again";
  EXPECT_TRUE(b->context().take_timings().empty());
  EXPECT_VALIDATION_CLEAN();
}

// Marks with no work between them give no interval; marks while timing is off are ignored.
TEST(VulkanTiming, EmptyMarksGiveNoInterval) {
  VK_OR_SKIP(b, 0);
  if (!b->supports_timing()) GTEST_SKIP() << "the Vulkan compute queue has no timestamps";
  vulkan::VkContext& ctx = b->context();
  ASSERT_TRUE(ctx.set_timing(true).is_ok());
  ctx.mark_begin(7);
  ctx.mark_end(7);
  ASSERT_TRUE(ctx.flush().is_ok());
  EXPECT_TRUE(ctx.take_timings().empty());
  ASSERT_TRUE(ctx.set_timing(false).is_ok());
  EXPECT_VALIDATION_CLEAN();
}

// --- split paths ---------------------------------------------------------------------------------

OpCase make(std::string name, std::string op, int opset, std::vector<InputSpec> inputs,
            std::map<std::string, ir::Attribute> attrs = {}) {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.opset = opset;
  c.inputs = std::move(inputs);
  c.attrs = std::move(attrs);
  c.atol = c.rtol = 0;  // data movement is exact
  return c;
}

InputSpec idx(Shape s, std::vector<int64_t> v) {
  InputSpec i;
  i.dtype = DType::kInt64;
  i.shape = std::move(s);
  for (int64_t x : v) i.values.push_back(static_cast<double>(x));
  return i;
}

// Runs the case on the CPU and on the limited backend; the node must run on the device.
void expect_split_matches(vulkan::VulkanBackend* b, const OpCase& c) {
  SCOPED_TRACE("case " + c.name);
  BuiltCase bc = build_case(c);
  cpu::Executor ref(*bc.graph, 1);
  auto want = ref.run(bc.feeds);
  ASSERT_TRUE(want.has_value()) << want.status().to_string();
  bool large = false;
  for (const auto& [n, t] : bc.feeds) large |= t.nbytes() > kSmallLimit;
  for (const Tensor& t : *want) large |= t.nbytes() > kSmallLimit;
  for (const ir::Value* v : bc.graph->initializers())
    large |= v->initializer().nbytes() > kSmallLimit;
  EXPECT_TRUE(large) << "the case does not exceed the lowered limit";
  device::HybridExecutor dev(*bc.graph, b, 1);
  ASSERT_TRUE(dev.prepare().is_ok());
  for (int r = 0; r < 2; ++r) {  // the second run replays the recorded command buffer
    auto got = dev.run(bc.feeds);
    ASSERT_TRUE(got.has_value()) << got.status().to_string();
    ASSERT_EQ(dev.last_assignment().size(), 1u);
    EXPECT_TRUE(dev.last_assignment()[0].on_device)
        << "ran on the CPU: " << dev.last_assignment()[0].reason;
    ASSERT_EQ(got->size(), want->size());
    for (size_t o = 0; o < want->size(); ++o) {
      tools::Comparison cmp = tools::compare_tensors((*got)[o], (*want)[o], c.rtol, c.atol);
      EXPECT_TRUE(cmp.ok) << "output " << o << ": " << cmp.message;
    }
  }
}

TEST(VulkanSplit, DataOpsAboveTheBindingLimitMatchCpu) {
  VK_OR_SKIP(b, kSmallLimit);
  ASSERT_EQ(b->context().max_binding_bytes(), kSmallLimit);
  std::vector<OpCase> cases;
  // 4 KiB elements per binding: every case below spans several windows, odd sizes.
  cases.push_back(make("Transpose/127x129", "Transpose", 13, {in_f32({127, 129})}));
  cases.push_back(make("Transpose/3d", "Transpose", 13, {in_f32({13, 37, 29})},
                       {{"perm", attr_ints({2, 0, 1})}}));
  cases.push_back(make("Slice/neg_step", "Slice", 13,
                       {in_f32({127, 133}), const_i64({120, 3}), const_i64({-200, 131}),
                        const_i64({0, 1}), const_i64({-3, 2})}));
  cases.push_back(make("Concat/axis1", "Concat", 13, {in_f32({61, 67}), in_f32({61, 13})},
                       {{"axis", attr_i(1)}}));
  cases.push_back(make("Split/axis0", "Split", 13, {in_f32({127, 61}), const_i64({100, 27})},
                       {{"axis", attr_i(0)}}));
  cases.back().num_outputs = 2;
  cases.push_back(make("Expand/to_large", "Expand", 13, {in_f32({1, 257}), const_i64({63, 1})}));
  {
    InputSpec i64 = in_f32({129, 67}, -1000, 1000);
    i64.dtype = DType::kInt64;
    cases.push_back(make("Transpose/int64", "Transpose", 13, {i64}));
  }
  // Gather along axis 0: data of 127 rows x 257 (over 8 windows), indices incl. negative ones.
  cases.push_back(make("Gather/large_data", "Gather", 13,
                       {in_f32({127, 257}), idx({2, 5}, {0, 126, -1, 63, 64, 5, -127, 100, 31, 1})},
                       {{"axis", attr_i(0)}}));
  std::vector<int64_t> many;
  for (int64_t i = 0; i < 1500; ++i) many.push_back((i * 37) % 211 - 105);
  cases.push_back(make("Gather/large_indices_and_output", "Gather", 13,
                       {in_f32({211, 13}), idx({1500}, many)}, {{"axis", attr_i(0)}}));
  cases.push_back(make("Gather/unit_outer_axis1", "Gather", 13,
                       {in_f32({1, 131, 67}), idx({3}, {130, 0, -5})}, {{"axis", attr_i(1)}}));
  // Pad and Tile with outputs over several windows.
  for (const char* mode : {"constant", "reflect", "edge"})
    cases.push_back(make(std::string("Pad/") + mode, "Pad", 13,
                         {in_f32({47, 67}), const_i64({30, -2, 25, 7})}, {{"mode", attr_s(mode)}}));
  cases.push_back(make("Tile/2d", "Tile", 13, {in_f32({13, 67}), const_i64({5, 3})}));
  // 2- and 1-byte elements.
  auto typed = [](DType dt, Shape shape) {
    InputSpec i = in_f32(std::move(shape), 0, 100);
    i.dtype = dt;
    return i;
  };
  cases.push_back(make("Gather/large_data_f16", "Gather", 13,
                       {typed(DType::kFloat16, {201, 131}), idx({4}, {200, 0, -3, 77})},
                       {{"axis", attr_i(0)}}));
  cases.push_back(make("Transpose/uint8", "Transpose", 13, {typed(DType::kUInt8, {131, 257})}));
  cases.push_back(
      make("Tile/uint8", "Tile", 13, {typed(DType::kUInt8, {67, 129}), const_i64({3, 1})}));
  for (const OpCase& c : cases) expect_split_matches(b, c);
  EXPECT_VALIDATION_CLEAN();
}

// A MatMul with a weight above the limit is split along K (GPT-2's LM head at the real limit):
// several blocks of weight rows, batched activations, a weight that is a constant or an input.
TEST(VulkanSplit, MatMulWithALargeWeightMatchesCpu) {
  VK_OR_SKIP(b, kSmallLimit);
  std::vector<OpCase> cases;
  cases.push_back(
      make("MatMul/batched_3_blocks", "MatMul", 13, {in_f32({2, 5, 67}), in_f32({67, 131})}));
  cases.push_back(
      make("MatMul/const_weight_127", "MatMul", 13, {in_f32({1, 127}), const_f32({127, 257})}));
  for (OpCase& c : cases) {
    c.atol = 1e-5;  // the blocks' partial sums add up in another order than the CPU's
    c.rtol = 1e-4;
    expect_split_matches(b, c);
  }
  // A weight row above the limit cannot be split along K: refused with the reason.
  OpCase wide = make("MatMul/row_too_wide", "MatMul", 13, {in_f32({2, 3}), in_f32({3, 4100})});
  BuiltCase bc = build_case(wide);
  device::HybridExecutor dev(*bc.graph, b, 1);
  ASSERT_TRUE(dev.prepare().is_ok());
  auto got = dev.run(bc.feeds);
  ASSERT_TRUE(got.has_value()) << got.status().to_string();
  EXPECT_FALSE(dev.last_assignment()[0].on_device);
  EXPECT_NE(dev.last_assignment()[0].reason.find("binding range"), std::string::npos)
      << dev.last_assignment()[0].reason;
  EXPECT_VALIDATION_CLEAN();
}

// Ops whose kernels do not split say so in supports(), naming the limit (the node then runs on
// the CPU), as does a Gather over large data along an inner axis and a Pad of a large source.
TEST(VulkanSplit, KernelsThatCannotSplitRefuse) {
  VK_OR_SKIP(b, kSmallLimit);
  for (const char* op : {"Softmax", "ArgMax"}) {
    ir::Graph g;
    g.opsets()[""] = 17;
    ir::Value* x = g.add_value("x").value();
    g.add_input(x);
    ir::Value* y = g.add_value("y").value();
    ir::Node* node = g.add_node(op, "", {x}, {y}).value();
    g.add_output(y);
    device::InputInfo info;
    info.desc = {DType::kFloat32, {4097}};
    device::Support s = b->supports(*node, {info});
    EXPECT_FALSE(s.ok) << op;
    EXPECT_NE(s.reason.find("binding range"), std::string::npos) << s.reason;
  }
  {
    ir::Graph g;
    g.opsets()[""] = 17;
    ir::Value* x = g.add_value("x").value();
    g.add_input(x);
    ir::Value* p = g.add_value("pads").value();
    g.add_input(p);
    ir::Value* y = g.add_value("y").value();
    ir::Node* node = g.add_node("Pad", "", {x, p}, {y}).value();
    g.add_output(y);
    Tensor pads = Tensor::create(DType::kInt64, {2}).value();
    pads.data<int64_t>()[0] = 1;
    pads.data<int64_t>()[1] = 1;
    device::InputInfo xi, pi;
    xi.desc = {DType::kFloat32, {4097}};
    pi.desc = {DType::kInt64, {2}};
    pi.host_value = &pads;
    device::Support s = b->supports(*node, {xi, pi});
    EXPECT_FALSE(s.ok);
    EXPECT_NE(s.reason.find("binding range"), std::string::npos) << s.reason;
  }
  OpCase c = make("Gather/axis1_large", "Gather", 13, {in_f32({3, 2000}), idx({2}, {1, -1})},
                  {{"axis", attr_i(1)}});
  BuiltCase bc = build_case(c);
  cpu::Executor ref(*bc.graph, 1);
  auto want = ref.run(bc.feeds);
  ASSERT_TRUE(want.has_value());
  device::HybridExecutor dev(*bc.graph, b, 1);
  ASSERT_TRUE(dev.prepare().is_ok());
  auto got = dev.run(bc.feeds);
  ASSERT_TRUE(got.has_value()) << got.status().to_string();
  EXPECT_FALSE(dev.last_assignment()[0].on_device);
  EXPECT_NE(dev.last_assignment()[0].reason.find("axis 0"), std::string::npos)
      << dev.last_assignment()[0].reason;
  EXPECT_TRUE(tools::compare_tensors((*got)[0], (*want)[0], 0, 0).ok);
  EXPECT_VALIDATION_CLEAN();
}

// Hostile attributes and host inputs of the data ops give a Status naming the node (the Vulkan
// prepare refuses, the CPU reference then reports the error), never a crash.
TEST(VulkanDataOps, BadInputsGiveAClearError) {
  VK_OR_SKIP(b, 0);
  std::vector<OpCase> cases;
  cases.push_back(make("Pad/wrong_pads_length", "Pad", 13, {in_f32({3, 4}), const_i64({1, 2})}));
  cases.push_back(
      make("Pad/crop_past_dim", "Pad", 13, {in_f32({3, 4}), const_i64({-2, 0, -2, 0})}));
  cases.push_back(make("Pad/reflect_empty_axis", "Pad", 13,
                       {in_f32({0, 4}), const_i64({1, 0, 1, 0})}, {{"mode", attr_s("reflect")}}));
  cases.push_back(make("Pad/bad_mode", "Pad", 13, {in_f32({3, 4}), const_i64({1, 0, 1, 0})},
                       {{"mode", attr_s("mirror")}}));
  cases.push_back(make("Tile/negative", "Tile", 13, {in_f32({3, 4}), const_i64({2, -1})}));
  cases.push_back(make("Tile/wrong_rank", "Tile", 13, {in_f32({3, 4}), const_i64({2})}));
  cases.push_back(
      make("ArgMax/axis_out_of_range", "ArgMax", 13, {in_f32({3, 4})}, {{"axis", attr_i(2)}}));
  cases.push_back(make("ArgMin/empty_axis", "ArgMin", 13, {in_f32({3, 0})}, {{"axis", attr_i(1)}}));
  cases.push_back(make("DepthToSpace/indivisible", "DepthToSpace", 13, {in_f32({1, 6, 2, 2})},
                       {{"blocksize", attr_i(2)}}));
  cases.push_back(make("SpaceToDepth/zero_block", "SpaceToDepth", 13, {in_f32({1, 2, 4, 4})},
                       {{"blocksize", attr_i(0)}}));
  for (const OpCase& c : cases) {
    SCOPED_TRACE("case " + c.name);
    BuiltCase bc = build_case(c);
    device::HybridExecutor dev(*bc.graph, b, 1);
    Status prep = dev.prepare();
    if (!prep.is_ok()) {
      EXPECT_NE(prep.message().find("node"), std::string::npos) << prep.message();
      continue;
    }
    auto got = dev.run(bc.feeds);
    ASSERT_FALSE(got.has_value()) << "a bad " << c.op << " ran";
    EXPECT_NE(got.status().message().find("node 'node' (" + c.op + ")"), std::string::npos)
        << got.status().message();
  }
  EXPECT_VALIDATION_CLEAN();
}

// A linear step (item i touches element i of every binding) is cut into chunks at enqueue: a
// rank-1 copy of 10007 floats (40 KB) through 16 KiB bindings.
TEST(VulkanSplit, LinearStepsAreCutIntoChunks) {
  VK_OR_SKIP(b, kSmallLimit);
  vulkan::VkContext& ctx = b->context();
  const int64_t n = 10007;
  const device::TensorDesc desc{DType::kFloat32, {n}};
  vulkan::ops::Push p;
  p.u(n).u(1).u(0).u(0).arr({n}, 6).arr({1}, 6).arr({1}, 6);
  auto step = vulkan::ops::make_step(ctx, "copy_4",
                                     {vulkan::ops::in_ref(0), vulkan::ops::out_ref(0)}, p, n);
  ASSERT_TRUE(step.has_value()) << step.status().to_string();
  step->linear_n_word = 4;
  vulkan::VkStepsKernel k(ctx, "copy", {desc}, {*step});
  EXPECT_TRUE(k.fits({desc}).ok);
  Tensor src = Tensor::create(DType::kFloat32, {n}).value();
  for (int64_t i = 0; i < n; ++i) src.data<float>()[i] = static_cast<float>(i) * 0.5f - 7;
  auto in_buf = b->allocate(src.nbytes() + 512);
  auto out_buf = b->allocate(src.nbytes() + 512);
  ASSERT_TRUE(in_buf.has_value() && out_buf.has_value());
  device::DeviceTensor din, dout;
  din.desc = dout.desc = desc;
  din.buffer = *in_buf;
  din.offset = 8;
  dout.buffer = *out_buf;
  dout.offset = 260;
  ASSERT_TRUE(b->upload(src, din).is_ok());
  const uint64_t before = ctx.dispatches_submitted();
  ASSERT_TRUE(k.enqueue({din}, {dout}).is_ok());
  ASSERT_TRUE(b->finish().is_ok());
  EXPECT_GE(ctx.dispatches_submitted() - before, 3u);
  Tensor back = Tensor::create(DType::kFloat32, {n}).value();
  ASSERT_TRUE(b->download(dout, &back).is_ok());
  EXPECT_EQ(std::memcmp(back.raw_data(), src.raw_data(), src.nbytes()), 0);
  // Without linear_n_word the same step binds 40 KB at once: fits() says no.
  step->linear_n_word = -1;
  vulkan::VkStepsKernel whole(ctx, "copy", {desc}, {*step});
  EXPECT_FALSE(whole.fits({desc}).ok);
  EXPECT_VALIDATION_CLEAN();
}

}  // namespace
}  // namespace kiln::testing
