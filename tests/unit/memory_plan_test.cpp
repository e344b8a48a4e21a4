// The device memory plan on OpenCL: in-place reuse of dying inputs (a smaller arena and identical
// results; values still needed later, values viewed by a live alias and graph outputs are never
// overwritten), kernel scratch planned in the arena (im2col convs), and OpenCL
// EmbedLayerNormalization failing like the CPU on out-of-range ids (an error, no out-of-bounds
// read; the OpCase harness only compares successful runs).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "runtime/cpu/executor.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/opencl/opencl_backend.h"
#include "runtime/tools/conformance.h"

namespace kiln {
namespace {

// A graph built node by node; every node output gets a fresh value.
class Builder {
 public:
  Builder() {
    g.opsets()[""] = 17;
    g.opsets()["com.microsoft"] = 1;
  }
  ir::Value* input(const std::string& name, DType dt, const Shape& shape) {
    ir::ValueInfo info{dt, true, {}};
    for (int64_t d : shape) info.dims.push_back(ir::Dim{d, ""});
    ir::Value* v = g.add_value(name, info).value();
    g.add_input(v);
    return v;
  }
  ir::Value* init(const std::string& name, Tensor t) { return g.add_initializer(name, t).value(); }
  ir::Value* node(const std::string& op, const std::vector<ir::Value*>& ins,
                  const std::string& domain = "", size_t outputs = 1,
                  const std::map<std::string, ir::Attribute>& attrs = {}) {
    std::vector<ir::Value*> outs;
    for (size_t o = 0; o < outputs; ++o)
      outs.push_back(g.add_value(numbered("v", next_++)).value());
    ir::Node* n = g.add_node(op, domain, ins, outs, numbered("n", next_)).value();
    for (const auto& [k, a] : attrs) n->set_attr(k, a);
    return outs[0];
  }
  void output(ir::Value* v) { g.add_output(v); }

  ir::Graph g;

 private:
  // "v7" (snprintf: GCC 12 warns falsely about string concatenation here).
  static std::string numbered(const char* prefix, int n) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%d", prefix, n);
    return buf;
  }

  int next_ = 0;
};

Tensor random_f32(const Shape& s, uint64_t seed, float lo = -2, float hi = 2) {
  Tensor t = Tensor::create(DType::kFloat32, s).value();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

struct DeviceResult {
  std::vector<Tensor> first, replay;
  size_t arena = 0, inplace = 0;
  bool all_on_device = true;
};

// Runs `g` on OpenCL twice (the recording run, then the planned replay) with in-place writing
// on or off (KILN_INPLACE is read at prepare()).
DeviceResult run_device(device::Backend* b, const ir::Graph& g,
                        const std::map<std::string, Tensor>& feeds, bool inplace) {
  DeviceResult r;
  setenv("KILN_INPLACE", inplace ? "1" : "0", 1);
  device::HybridExecutor dev(g, b, 1);
  Status st = dev.prepare();
  unsetenv("KILN_INPLACE");
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  auto first = dev.run(feeds);
  EXPECT_TRUE(first.has_value()) << first.status().to_string();
  auto replay = dev.run(feeds);
  EXPECT_TRUE(replay.has_value()) << replay.status().to_string();
  if (!first || !replay) return r;
  r.first = *first;
  r.replay = *replay;
  r.arena = dev.last_arena_bytes();
  r.inplace = dev.last_inplace_outputs();
  for (const auto& a : dev.last_assignment())
    if (!a.on_device) r.all_on_device = false;
  EXPECT_EQ(dev.plans_built(), 1u);
  return r;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// Device results with in-place on equal the CPU within `tol` and, bit for bit, the device with
// in-place off; the replay equals the first run. Returns {arena on, arena off}.
std::pair<size_t, size_t> check_graph(device::Backend* b, const ir::Graph& g,
                                      const std::map<std::string, Tensor>& feeds, double tol,
                                      size_t* inplace_outputs = nullptr) {
  cpu::Executor ref(g, 1);
  auto want = ref.run(feeds);
  EXPECT_TRUE(want.has_value()) << want.status().to_string();
  DeviceResult on = run_device(b, g, feeds, true);
  DeviceResult off = run_device(b, g, feeds, false);
  EXPECT_TRUE(on.all_on_device);
  if (!want || on.first.size() != want->size() || off.first.size() != want->size()) {
    ADD_FAILURE() << "missing outputs";
    return {0, 0};
  }
  for (size_t o = 0; o < want->size(); ++o) {
    SCOPED_TRACE("output " + std::to_string(o));
    tools::Comparison c = tools::compare_tensors(on.first[o], (*want)[o], tol, tol);
    EXPECT_TRUE(c.ok) << c.message;
    EXPECT_TRUE(same_bytes(on.first[o], off.first[o])) << "in-place changed the result";
    EXPECT_TRUE(same_bytes(on.replay[o], on.first[o])) << "the planned replay changed the result";
    EXPECT_TRUE(same_bytes(off.replay[o], off.first[o]));
  }
  if (inplace_outputs) *inplace_outputs = on.inplace;
  EXPECT_EQ(off.inplace, 0u);
  return {on.arena, off.arena};
}

#define OPENCL_OR_SKIP(b)                                                             \
  auto b##_made = opencl::OpenClBackend::create("opencl");                            \
  if (!b##_made) GTEST_SKIP() << "no OpenCL device: " << b##_made.status().message(); \
  device::Backend* b = b##_made->get()

// A chain of elementwise ops reuses its inputs' bytes: a smaller arena, the same results.
TEST(MemoryPlan, ElementwiseChainGetsASmallerArena) {
  OPENCL_OR_SKIP(b);
  Builder m;
  ir::Value* x = m.input("x", DType::kFloat32, {3, 1001});
  ir::Value* y = m.input("y", DType::kFloat32, {3, 1001});
  ir::Value* bias = m.init("bias", random_f32({1001}, 3));
  ir::Value* a = m.node("Relu", {x});
  ir::Value* s = m.node("Sigmoid", {a});
  ir::Value* c = m.node("Add", {bias, s});  // the full-size operand is input 1
  ir::Value* d = m.node("Mul", {c, y});
  ir::Value* e = m.node("Tanh", {d});
  m.output(m.node("Abs", {e}));
  std::map<std::string, Tensor> feeds = {{"x", random_f32({3, 1001}, 1)},
                                         {"y", random_f32({3, 1001}, 2)}};
  size_t inplace = 0;
  auto [on, off] = check_graph(b, m.g, feeds, 1e-5, &inplace);
  EXPECT_EQ(inplace, 6u);
  EXPECT_LT(on, off);
  // x and y are uploaded into two slots; every op then writes over x's bytes.
  EXPECT_LE(on, 2 * ((3 * 1001 * 4 + 255) / 256 * 256));
}

// x -> Relu -> a, a -> Neg -> b, Add(a, b): a is still needed when Neg runs, so Neg must not
// write over it (the sum is then exactly 0). Sigmoid(x) while x is still needed by Mul.
TEST(MemoryPlan, ValueStillNeededIsNotOverwritten) {
  OPENCL_OR_SKIP(b);
  Builder m;
  ir::Value* x = m.input("x", DType::kFloat32, {13, 127});
  ir::Value* a = m.node("Relu", {x});
  ir::Value* n = m.node("Neg", {a});
  ir::Value* zero = m.node("Add", {a, n});
  ir::Value* s = m.node("Sigmoid", {x});
  ir::Value* silu = m.node("Mul", {s, x});
  m.output(zero);
  m.output(silu);
  std::map<std::string, Tensor> feeds = {{"x", random_f32({13, 127}, 4)}};
  check_graph(b, m.g, feeds, 1e-6);
  DeviceResult r = run_device(b, m.g, feeds, true);
  ASSERT_EQ(r.first.size(), 2u);
  for (int64_t i = 0; i < r.first[0].numel(); ++i)
    ASSERT_EQ(r.first[0].data<float>()[i], 0.0f) << "element " << i;
}

// Graph outputs are never written over, even when their last reader is an elementwise op.
TEST(MemoryPlan, GraphOutputsAreNeverOverwritten) {
  OPENCL_OR_SKIP(b);
  Builder m;
  ir::Value* x = m.input("x", DType::kFloat32, {127});
  ir::Value* r = m.node("Relu", {x});
  ir::Value* s = m.node("Sigmoid", {r});
  ir::Value* e = m.node("Exp", {s});
  m.output(r);
  m.output(s);
  m.output(e);
  std::map<std::string, Tensor> feeds = {{"x", random_f32({127}, 5)}};
  size_t inplace = 0;
  check_graph(b, m.g, feeds, 1e-6, &inplace);
  EXPECT_EQ(inplace, 1u);  // only Relu, over the graph input's device copy
}

// A Reshape view of a value keeps its bytes alive: Sigmoid(view) must not overwrite them while
// the viewed value is still read later; when it is not, the view's bytes are reused.
TEST(MemoryPlan, ViewedBytesFollowTheirAliases) {
  OPENCL_OR_SKIP(b);
  Tensor shape = Tensor::create(DType::kInt64, {1}).value();
  shape.data<int64_t>()[0] = 24 * 7;
  Tensor back = Tensor::create(DType::kInt64, {2}).value();
  back.data<int64_t>()[0] = 24;
  back.data<int64_t>()[1] = 7;
  for (bool later_use : {true, false}) {
    SCOPED_TRACE(later_use ? "root read later" : "root dead");
    Builder m;
    ir::Value* x = m.input("x", DType::kFloat32, {24, 7});
    ir::Value* a = m.node("Relu", {x});
    ir::Value* flat = m.node("Reshape", {a, m.init("shape", shape)});
    ir::Value* s = m.node("Sigmoid", {flat});
    ir::Value* s2 = m.node("Reshape", {s, m.init("back", back)});
    m.output(later_use ? m.node("Add", {s2, a}) : m.node("Neg", {s2}));
    std::map<std::string, Tensor> feeds = {{"x", random_f32({24, 7}, 6)}};
    size_t inplace = 0;
    check_graph(b, m.g, feeds, 1e-6, &inplace);
    // Relu, then Add over s2 (Sigmoid must not write over a's bytes); or Sigmoid and Neg.
    EXPECT_EQ(inplace, later_use ? 2u : 3u);
  }
}

// im2col convs take their unfolded matrix from the arena (DeviceKernel::scratch_bytes).
TEST(MemoryPlan, Im2colScratchIsPlanned) {
  OPENCL_OR_SKIP(b);
  for (const char* path : {"im2col_nn", "im2col_nt"}) {
    SCOPED_TRACE(path);
    Builder m;
    ir::Value* x = m.input("x", DType::kFloat32, {2, 3, 17, 19});
    ir::Attribute pad;
    pad.type = ir::AttrType::kInts;
    pad.ints = {1, 1, 1, 1};
    const std::map<std::string, ir::Attribute> pads = {{"pads", pad}};
    ir::Value* c1 = m.node(
        "Conv",
        {x, m.init("w1", random_f32({8, 3, 3, 3}, 7, -0.5, 0.5)), m.init("b1", random_f32({8}, 8))},
        "", 1, pads);
    ir::Value* r = m.node("Relu", {c1});
    m.output(
        m.node("Conv", {r, m.init("w2", random_f32({5, 8, 3, 3}, 9, -0.5, 0.5))}, "", 1, pads));
    std::map<std::string, Tensor> feeds = {{"x", random_f32({2, 3, 17, 19}, 10)}};
    setenv("KILN_CL_CONV", path, 1);
    auto [on, off] = check_graph(b, m.g, feeds, 1e-4);
    unsetenv("KILN_CL_CONV");
    // The second conv's matrix: 2 images x 17*19 pixels x 8*9 rows of floats.
    EXPECT_GE(on, size_t{2} * 17 * 19 * 72 * 4);
    EXPECT_LE(on, off);
  }
}

// EmbedLayerNormalization with an id outside its table fails on OpenCL with the CPU's message;
// the kernel reads nothing out of bounds, and a later valid run succeeds.
TEST(MemoryPlan, EmbedLayerNormOutOfRangeIdsFailLikeTheCpu) {
  OPENCL_OR_SKIP(b);
  const int64_t B = 2, S = 5, H = 13, V = 11, P = 6;
  Builder m;
  ir::Value* ids = m.input("ids", DType::kInt32, {B, S});
  ir::Value* seg = m.input("seg", DType::kInt32, {B, S});
  ir::Value* pos = m.input("pos", DType::kInt32, {1, S});
  ir::Value* out =
      m.node("EmbedLayerNormalization",
             {ids, seg, m.init("w", random_f32({V, H}, 1)), m.init("p", random_f32({P, H}, 2)),
              m.init("s", random_f32({2, H}, 3)), m.init("g", random_f32({H}, 4)),
              m.init("b", random_f32({H}, 5)), nullptr, pos},
             "com.microsoft", 2);
  m.output(out);
  auto ints = [](Shape s, std::vector<int32_t> v) {
    Tensor t = Tensor::create(DType::kInt32, s).value();
    for (size_t i = 0; i < v.size(); ++i) t.data<int32_t>()[i] = v[i];
    return t;
  };
  const Tensor good_ids = ints({B, S}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  const Tensor good_seg = ints({B, S}, {0, 1, 0, 1, 0, 1, 0, 1, 0, 1});
  const Tensor good_pos = ints({1, S}, {0, 1, 2, 3, 5});
  struct Bad {
    std::string what;
    std::map<std::string, Tensor> feeds;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {"word",
       {{"ids", ints({B, S}, {1, 2, 3, 4, 5, 6, 7, 11, 9, -1})},
        {"seg", good_seg},
        {"pos", good_pos}},
       "input_ids value 11 at 7 is out of range [0, 11)"},
      {"segment",
       {{"ids", good_ids},
        {"seg", ints({B, S}, {0, 1, 0, 1, 0, 1, 2, 1, 0, 1})},
        {"pos", good_pos}},
       "segment_ids value 2 at 6 is out of range [0, 2)"},
      {"position",
       {{"ids", good_ids}, {"seg", good_seg}, {"pos", ints({1, S}, {0, 1, 2, 6, 0})}},
       "position 6 at 3 is out of range for position_embedding of 6 rows"},
  };
  device::HybridExecutor dev(m.g, b, 1);
  ASSERT_TRUE(dev.prepare().is_ok());
  cpu::Executor ref(m.g, 1);
  for (const Bad& c : bad) {
    SCOPED_TRACE(c.what);
    auto want = ref.run(c.feeds);
    ASSERT_FALSE(want.has_value());
    EXPECT_NE(want.status().message().find(c.message), std::string::npos)
        << want.status().to_string();
    auto got = dev.run(c.feeds);
    ASSERT_FALSE(got.has_value());
    EXPECT_NE(got.status().message().find(c.message), std::string::npos)
        << got.status().to_string();
    EXPECT_NE(got.status().message().find("EmbedLayerNormalization"), std::string::npos)
        << got.status().to_string();
    ASSERT_FALSE(dev.last_assignment().empty());
    EXPECT_TRUE(dev.last_assignment()[0].on_device) << dev.last_assignment()[0].reason;
  }
  std::map<std::string, Tensor> good = {{"ids", good_ids}, {"seg", good_seg}, {"pos", good_pos}};
  auto want = ref.run(good);
  ASSERT_TRUE(want.has_value()) << want.status().to_string();
  auto got = dev.run(good);
  ASSERT_TRUE(got.has_value()) << got.status().to_string();
  tools::Comparison cmp = tools::compare_tensors((*got)[0], (*want)[0], 1e-4, 1e-4);
  EXPECT_TRUE(cmp.ok) << cmp.message;
}

}  // namespace
}  // namespace kiln
