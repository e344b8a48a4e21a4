// The float16 conversion pass (graph/passes/float16.h): the IR after conversion on small graphs
// (Casts at the interface, initializers, keep list, attribute rewrites, clamping) and the outputs
// of the converted graph against the float32 graph on the CPU executor. Tolerance: float16 has
// an 11-bit significand (relative rounding 2^-11 per value); the small graphs below have values
// of order 1 and a few rounding steps, so 1e-2 absolute is stated for them and 3e-2 for the
// example encoder (12 layers of rounding).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "graph/onnx/importer.h"
#include "graph/passes/float16.h"
#include "graph/passes/pass.h"
#include "runtime/device/hybrid_executor.h"
#include "runtime/io/tensor_io.h"
#include "runtime/session.h"
#include "runtime/tools/conformance.h"
#include "runtime/vulkan/vulkan_backend.h"
#include "test_util.h"
#include "tests/opcases/op_case.h"

namespace kiln::testing {
// tests/opcases/cases_fp16.cpp: cases only the Vulkan backend runs on the device.
std::vector<OpCase> fp16_vulkan_cases();
}  // namespace kiln::testing

namespace kiln::passes {
namespace {

using kiln::testing::f32;
using kiln::testing::i64v;
using kiln::testing::int_attr;
using kiln::testing::tensor_attr;

ir::ValueInfo f32info(std::vector<int64_t> dims) {
  ir::ValueInfo i{DType::kFloat32, true, {}};
  for (int64_t x : dims) i.dims.push_back(ir::Dim{x, ""});
  return i;
}
ir::Value* input(ir::Graph& g, const std::string& name, ir::ValueInfo i) {
  ir::Value* v = *g.add_value(name, std::move(i));
  g.add_input(v);
  return v;
}
ir::Value* value(ir::Graph& g, const std::string& name, DType dt = DType::kFloat32) {
  return *g.add_value(name, ir::ValueInfo{dt, false, {}});
}
ir::Node* node(ir::Graph& g, const std::string& op, std::vector<ir::Value*> ins,
               std::vector<ir::Value*> outs, kiln::testing::AttrMap attrs = {},
               const std::string& name = "") {
  ir::Node* n = *g.add_node(op, "", ins, outs, name);
  for (auto& [k, a] : attrs) n->set_attr(k, a);
  return n;
}
Tensor random_f32(const Shape& s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  Tensor t = *Tensor::create(DType::kFloat32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}
std::vector<Tensor> run(const ir::Graph& g, const std::map<std::string, Tensor>& feeds) {
  cpu::Executor ex(g, 1);
  auto r = ex.run(feeds);
  EXPECT_TRUE(r.has_value()) << r.status().to_string() << "\n" << g.dump();
  return r.has_value() ? *r : std::vector<Tensor>{};
}
void expect_close(const std::vector<Tensor>& a, const std::vector<Tensor>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(dtype_name(a[i].dtype()), std::string(dtype_name(b[i].dtype())));
    ASSERT_EQ(shape_to_string(a[i].shape()), shape_to_string(b[i].shape()));
    for (int64_t k = 0; k < a[i].numel(); ++k)
      ASSERT_NEAR(a[i].get_as_double(k), b[i].get_as_double(k), tol) << "output " << i << " @" << k;
  }
}
int count_op(const ir::Graph& g, const std::string& op) {
  int n = 0;
  for (ir::Node* x : g.nodes()) n += x->op_type() == op;
  return n;
}
ir::Node* find_node(const ir::Graph& g, const std::string& op) {
  for (ir::Node* x : g.nodes())
    if (x->op_type() == op) return x;
  return nullptr;
}

// X[3,13] -> MatMul W[13,7] -> Add B[7] -> Relu -> Softmax -> Y, built twice (reference and
// converted).
void build_mlp(ir::Graph& g) {
  g.opsets()[""] = 17;
  ir::Value* x = input(g, "X", f32info({3, 13}));
  ir::Value* w = *g.add_initializer("W", random_f32({13, 7}, 2));
  ir::Value* b = *g.add_initializer("B", random_f32({7}, 3));
  ir::Value* m = value(g, "m");
  ir::Value* a = value(g, "a");
  ir::Value* r = value(g, "r");
  ir::Value* y = value(g, "Y");
  node(g, "MatMul", {x, w}, {m});
  node(g, "Add", {m, b}, {a});
  node(g, "Relu", {a}, {r}, {}, "relu");
  node(g, "Softmax", {r}, {y}, {{"axis", int_attr(-1)}});
  g.add_output(y);
}

TEST(Float16Pass, MlpInterfaceStaysFloat32) {
  ir::Graph ref, g;
  build_mlp(ref);
  build_mlp(g);
  PassStats stats;
  Status st = convert_to_float16(g, {}, &stats);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  ASSERT_TRUE(g.verify().is_ok());
  // Interface: names and float32 types kept.
  ASSERT_EQ(g.inputs().size(), 1u);
  EXPECT_EQ(g.inputs()[0]->name(), "X");
  EXPECT_EQ(g.inputs()[0]->info().dtype, DType::kFloat32);
  ASSERT_EQ(g.outputs().size(), 1u);
  EXPECT_EQ(g.outputs()[0]->name(), "Y");
  EXPECT_EQ(g.outputs()[0]->info().dtype, DType::kFloat32);
  // One Cast in, one Cast out; weights float16; every compute node reads float16.
  EXPECT_EQ(count_op(g, "Cast"), 2);
  EXPECT_EQ(g.find_value("W")->info().dtype, DType::kFloat16);
  EXPECT_EQ(g.find_value("W")->initializer().dtype(), DType::kFloat16);
  EXPECT_EQ(g.find_value("B")->info().dtype, DType::kFloat16);
  for (const char* op : {"MatMul", "Add", "Relu", "Softmax"}) {
    ir::Node* n = find_node(g, op);
    ASSERT_NE(n, nullptr) << op;
    for (ir::Value* v : n->inputs()) EXPECT_EQ(v->info().dtype, DType::kFloat16) << op;
    EXPECT_EQ(n->output(0)->info().dtype, DType::kFloat16) << op;
  }
  EXPECT_EQ(g.outputs()[0]->producer()->op_type(), "Cast");
  EXPECT_EQ(stats.get("Float16Cast"), 2);
  EXPECT_EQ(stats.get("Float16Initializer"), 2);
  EXPECT_EQ(stats.get("Float16Node"), 4);
  std::map<std::string, Tensor> feeds = {{"X", random_f32({3, 13}, 7)}};
  expect_close(run(ref, feeds), run(g, feeds), 1e-2);
}

TEST(Float16Pass, KeepListOpAndNodeName) {
  ir::Graph ref, g;
  build_mlp(ref);
  build_mlp(g);
  Float16Options o;
  o.keep_float32_ops = {"Add"};
  o.keep_float32_nodes = {"relu"};
  PassStats stats;
  ASSERT_TRUE(convert_to_float16(g, o, &stats).is_ok());
  ASSERT_TRUE(g.verify().is_ok());
  // Add and Relu stay float32: B stays float32, MatMul's output is cast back, Relu's output is
  // cast to float16 for Softmax.
  ir::Node* add = find_node(g, "Add");
  ir::Node* relu = find_node(g, "Relu");
  EXPECT_EQ(g.find_value("B")->info().dtype, DType::kFloat32);
  EXPECT_EQ(add->input(0)->info().dtype, DType::kFloat32);
  EXPECT_EQ(add->input(0)->producer()->op_type(), "Cast");
  EXPECT_EQ(relu->output(0)->info().dtype, DType::kFloat32);
  EXPECT_EQ(find_node(g, "Softmax")->input(0)->producer()->op_type(), "Cast");
  EXPECT_EQ(count_op(g, "Cast"), 4);
  EXPECT_EQ(stats.get("Float16KeptFloat32"), 2);
  std::map<std::string, Tensor> feeds = {{"X", random_f32({3, 13}, 8)}};
  expect_close(run(ref, feeds), run(g, feeds), 1e-2);
}

TEST(Float16Pass, SharedInitializerGetsAHalfCopy) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "X", f32info({13}));
    ir::Value* c = *g.add_initializer("C", random_f32({13}, 4));
    ir::Value* a = value(g, "a");
    ir::Value* s = value(g, "s");
    ir::Value* y = value(g, "Y");
    node(g, "Mul", {x, c}, {a});
    node(g, "CumSum", {c, *g.add_initializer("axis", Tensor::scalar<int64_t>(0))}, {s});
    node(g, "Add", {a, s}, {y});
    g.add_output(y);
  };
  ir::Graph ref, g;
  build(ref);
  build(g);
  ASSERT_TRUE(convert_to_float16(g, {}, nullptr).is_ok());
  ASSERT_TRUE(g.verify().is_ok());
  // CumSum is on the default keep list: it still reads the float32 C; Mul reads a float16 copy.
  EXPECT_EQ(g.find_value("C")->info().dtype, DType::kFloat32);
  EXPECT_EQ(find_node(g, "CumSum")->input(0)->name(), "C");
  ir::Value* mc = find_node(g, "Mul")->input(1);
  EXPECT_NE(mc->name(), "C");
  EXPECT_TRUE(mc->is_initializer());
  EXPECT_EQ(mc->info().dtype, DType::kFloat16);
  std::map<std::string, Tensor> feeds = {{"X", random_f32({13}, 9)}};
  expect_close(run(ref, feeds), run(g, feeds), 2e-2);
}

TEST(Float16Pass, ClampsOutOfRangeInitializers) {
  ir::Graph g;
  g.opsets()[""] = 17;
  ir::Value* x = input(g, "X", f32info({5}));
  ir::Value* c = *g.add_initializer("C", f32({5}, {1e6f, -1e6f, 1e-10f, -1e-10f, 0.5f}));
  ir::Value* y = value(g, "Y");
  node(g, "Mul", {x, c}, {y});
  g.add_output(y);
  PassStats stats;
  ASSERT_TRUE(convert_to_float16(g, {}, &stats).is_ok());
  EXPECT_EQ(stats.get("Float16Clamped"), 4);
  const Half* h = g.find_value("C")->initializer().data<Half>();
  EXPECT_EQ(static_cast<float>(h[0]), 65504.f);
  EXPECT_EQ(static_cast<float>(h[1]), -65504.f);
  EXPECT_EQ(static_cast<float>(h[2]), std::ldexp(1.f, -24));
  EXPECT_EQ(static_cast<float>(h[3]), -std::ldexp(1.f, -24));
  EXPECT_EQ(static_cast<float>(h[4]), 0.5f);
  auto out = run(g, {{"X", f32({5}, {1, 1, 1, 1, 1})}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dtype(), DType::kFloat32);
  EXPECT_EQ(out[0].data<float>()[0], 65504.f);
}

TEST(Float16Pass, RewritesDtypeAttributes) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* ids = input(g, "ids", ir::ValueInfo{DType::kInt64, true, {ir::Dim{4, ""}}});
    ir::Value* f = value(g, "f");
    ir::Value* z = value(g, "z");
    ir::Value* k = value(g, "k");
    ir::Value* s = value(g, "s");
    ir::Value* t = value(g, "t");
    ir::Value* y = value(g, "Y");
    node(g, "Cast", {ids}, {f}, {{"to", int_attr(1)}});
    node(g, "ConstantOfShape", {*g.add_initializer("shape", i64v({4}))}, {z});
    node(g, "Constant", {}, {k}, {{"value", tensor_attr(f32({1}, {0.25f}))}});
    node(g, "Add", {f, z}, {s});
    node(g, "Mul", {s, k}, {t});
    node(g, "EyeLike", {*g.add_initializer("sq", f32({2, 2}, {0, 0, 0, 0}))}, {value(g, "eye")},
         {{"dtype", int_attr(1)}});
    node(g, "Identity", {t}, {y});
    g.add_output(y);
    g.add_output(g.find_value("eye"));
  };
  ir::Graph ref, g;
  build(ref);
  build(g);
  ASSERT_TRUE(convert_to_float16(g, {}, nullptr).is_ok());
  ASSERT_TRUE(g.verify().is_ok()) << g.dump();
  ir::Node* cast = nullptr;
  for (ir::Node* n : g.nodes())
    if (n->op_type() == "Cast" && n->input(0)->name() == "ids") cast = n;
  ASSERT_NE(cast, nullptr);
  EXPECT_EQ(cast->attr("to")->i, 10);
  EXPECT_EQ(cast->output(0)->info().dtype, DType::kFloat16);
  ir::Node* cos = find_node(g, "ConstantOfShape");
  ASSERT_NE(cos->attr("value"), nullptr);
  EXPECT_EQ(cos->attr("value")->t.dtype(), DType::kFloat16);
  EXPECT_EQ(find_node(g, "Constant")->attr("value")->t.dtype(), DType::kFloat16);
  EXPECT_EQ(find_node(g, "EyeLike")->attr("dtype")->i, 10);
  ASSERT_EQ(g.outputs().size(), 2u);
  EXPECT_EQ(g.outputs()[0]->info().dtype, DType::kFloat32);
  EXPECT_EQ(g.outputs()[1]->info().dtype, DType::kFloat32);
  std::map<std::string, Tensor> feeds = {{"ids", i64v({1, 2, 3, 40})}};
  expect_close(run(ref, feeds), run(g, feeds), 1e-2);
}

TEST(Float16Pass, GraphOutputReadByAnotherNode) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "X", f32info({13}));
    ir::Value* a = value(g, "A");
    ir::Value* b = value(g, "B");
    node(g, "Tanh", {x}, {a});
    node(g, "Mul", {a, a}, {b});
    g.add_output(a);
    g.add_output(b);
  };
  ir::Graph ref, g;
  build(ref);
  build(g);
  ASSERT_TRUE(convert_to_float16(g, {}, nullptr).is_ok());
  ASSERT_TRUE(g.verify().is_ok());
  EXPECT_EQ(g.outputs()[0]->name(), "A");
  EXPECT_EQ(g.outputs()[0]->info().dtype, DType::kFloat32);
  // Mul reads Tanh's float16 output directly, not the float32 graph output.
  ir::Node* mul = find_node(g, "Mul");
  EXPECT_EQ(mul->input(0)->info().dtype, DType::kFloat16);
  EXPECT_EQ(mul->input(0)->producer()->op_type(), "Tanh");
  EXPECT_EQ(count_op(g, "Cast"), 3);
  std::map<std::string, Tensor> feeds = {{"X", random_f32({13}, 10)}};
  expect_close(run(ref, feeds), run(g, feeds), 1e-2);
}

TEST(Float16Pass, ResizeScalesStayFloat32) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 13;
    ir::Value* x = input(g, "X", f32info({1, 1, 3, 5}));
    ir::Value* y = value(g, "Y");
    node(g, "Resize",
         {x, *g.add_initializer("roi", f32({0}, {})),
          *g.add_initializer("scales", f32({4}, {1, 1, 2, 2}))},
         {y}, {{"mode", kiln::testing::str_attr("linear")}});
    g.add_output(y);
  };
  ir::Graph ref, g;
  build(ref);
  build(g);
  ASSERT_TRUE(convert_to_float16(g, {}, nullptr).is_ok());
  ASSERT_TRUE(g.verify().is_ok());
  ir::Node* r = find_node(g, "Resize");
  EXPECT_EQ(r->input(0)->info().dtype, DType::kFloat16);
  EXPECT_EQ(r->input(2)->info().dtype, DType::kFloat32);
  EXPECT_EQ(r->input(2)->name(), "scales");
  std::map<std::string, Tensor> feeds = {{"X", random_f32({1, 1, 3, 5}, 11)}};
  expect_close(run(ref, feeds), run(g, feeds), 1e-2);
}

TEST(Float16Pass, AlreadyHalfValuesAreLeftAlone) {
  ir::Graph g;
  g.opsets()[""] = 17;
  ir::Value* x = input(g, "X", ir::ValueInfo{DType::kFloat16, true, {ir::Dim{3, ""}}});
  ir::Value* y = value(g, "Y", DType::kFloat16);
  node(g, "Relu", {x}, {y});
  g.add_output(y);
  PassStats stats;
  ASSERT_TRUE(convert_to_float16(g, {}, &stats).is_ok());
  EXPECT_EQ(count_op(g, "Cast"), 0);
  EXPECT_EQ(g.outputs()[0]->info().dtype, DType::kFloat16);
}

TEST(Float16Pass, ExampleEncoderCloseToFloat32) {
  const std::string dir = std::string(KILN_SOURCE_DIR) + "/tests/models/example/";
  auto ref = onnx_io::load_model(dir + "encoder.onnx");
  ASSERT_TRUE(ref.has_value()) << ref.status().to_string();
  auto half = onnx_io::load_model(dir + "encoder.onnx");
  ASSERT_TRUE(half.has_value());
  PassStats stats;
  Status st = convert_to_float16(*half->graph, {}, &stats);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  ASSERT_TRUE(half->graph->verify().is_ok());
  std::map<std::string, Tensor> feeds;
  for (const char* name : {"input_ids", "attention_mask"}) {
    auto t = io::load_tensor_file(dir + "inputs/" + name + ".npy");
    ASSERT_TRUE(t.has_value()) << t.status().to_string();
    feeds[name] = *t;
  }
  auto a = run(*ref->graph, feeds), b = run(*half->graph, feeds);
  expect_close(a, b, 3e-2);
  std::printf("float16 on the example encoder: %s\n", stats.to_string().c_str());
}

// The fp16 OpCases on Vulkan must run on the device (vulkan_ops_test.cpp lets float16 cases fall
// back), and the example encoder converted to fp16 runs with no CPU fallback but shape
// arithmetic. Validation layer on; no Vulkan device or no 16-bit storage is a visible skip.
vulkan::VulkanBackend* vk_backend(std::string* why) {
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
  *why = reason;
  if (b && !b->context().features().halves()) {
    *why = "the Vulkan device has no 16-bit storage";
    return nullptr;
  }
  return b.get();
}

TEST(Float16Vulkan, Fp16CasesRunOnTheDevice) {
  std::string why;
  vulkan::VulkanBackend* b = vk_backend(&why);
  if (!b) GTEST_SKIP() << "no Vulkan fp16 device: " << why;
  const uint64_t before = vulkan::validation_message_count();
  int checked = 0;
  std::vector<kiln::testing::OpCase> cases = kiln::testing::fp16_cases();
  for (auto& c : kiln::testing::fp16_vulkan_cases()) cases.push_back(std::move(c));
  for (const kiln::testing::OpCase& c : cases) {
    SCOPED_TRACE(c.name);
    kiln::testing::BuiltCase bc = kiln::testing::build_case(c);
    cpu::Executor ref(*bc.graph, 1);
    auto want = ref.run(bc.feeds);
    ASSERT_TRUE(want.has_value()) << want.status().to_string();
    device::HybridExecutor dev(*bc.graph, b, 1);
    ASSERT_TRUE(dev.prepare().is_ok());
    auto got = dev.run(bc.feeds);
    ASSERT_TRUE(got.has_value()) << got.status().to_string();
    ASSERT_EQ(dev.last_assignment().size(), 1u);
    EXPECT_TRUE(dev.last_assignment()[0].on_device)
        << c.name << " fell back to the CPU: " << dev.last_assignment()[0].reason;
    ASSERT_EQ(got->size(), want->size());
    for (size_t o = 0; o < want->size(); ++o) {
      tools::Comparison cmp = tools::compare_tensors((*got)[o], (*want)[o], c.rtol, c.atol);
      EXPECT_TRUE(cmp.ok) << c.name << " output " << o << ": " << cmp.message;
    }
    ++checked;
  }
  EXPECT_GT(checked, 20);
  EXPECT_EQ(vulkan::validation_message_count(), before) << "validation layer messages";
}

TEST(Float16Vulkan, ExampleEncoderRunsOnTheDevice) {
  std::string why;
  if (!vk_backend(&why)) GTEST_SKIP() << "no Vulkan fp16 device: " << why;
  const std::string dir = std::string(KILN_SOURCE_DIR) + "/tests/models/example/";
  SessionOptions so;
  so.device = "vulkan";
  so.precision = "fp16";
  so.threads = 1;
  auto s = Session::load(dir + "encoder.onnx", so);
  ASSERT_TRUE(s.has_value()) << s.status().to_string();
  SessionOptions ro = so;
  ro.device = "cpu";
  ro.precision = "fp32";
  auto r = Session::load(dir + "encoder.onnx", ro);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  std::map<std::string, Tensor> feeds;
  for (const char* name : {"input_ids", "attention_mask"})
    feeds[name] = *io::load_tensor_file(dir + "inputs/" + name + ".npy");
  auto got = (*s)->run(feeds);
  ASSERT_TRUE(got.has_value()) << got.status().to_string();
  auto want = (*r)->run(feeds);
  ASSERT_TRUE(want.has_value());
  expect_close(*want, *got, 3e-2);
}

}  // namespace
}  // namespace kiln::passes
