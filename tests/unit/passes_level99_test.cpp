// Level-99 passes (graph/passes/all_passes.h): before/after IR checks on small hand-built graphs,
// cases that must not fuse, and numeric equality of the graph before and after on random inputs
// with the CPU executor (tolerance 1e-5 absolute, float32). FusedConv's CPU kernel
// (runtime/cpu/ops/contrib_conv.cpp) is checked against Conv + the activation's reference kernel
// directly, since the registry may not list it.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "graph/ir/graph.h"
#include "graph/passes/all_passes.h"
#include "graph/passes/pass.h"
#include "graph/passes/util.h"
#include "runtime/core/thread_pool.h"
#include "runtime/cpu/executor.h"
#include "runtime/cpu/kernel.h"
#include "runtime/device/fused_program.h"

namespace kiln::cpu {
Status contrib_fused_conv_kernel(OpContext& ctx);
}

namespace kiln::passes {
namespace {

constexpr float kTol = 1e-5f;

ir::Attribute int_a(int64_t v) {
  ir::Attribute a;
  a.type = ir::AttrType::kInt;
  a.i = v;
  return a;
}
ir::Attribute float_a(float v) {
  ir::Attribute a;
  a.type = ir::AttrType::kFloat;
  a.f = v;
  return a;
}
ir::Attribute ints_a(std::vector<int64_t> v) {
  ir::Attribute a;
  a.type = ir::AttrType::kInts;
  a.ints = std::move(v);
  return a;
}

ir::ValueInfo info(DType dt, std::vector<int64_t> dims) {
  ir::ValueInfo i;
  i.dtype = dt;
  i.has_shape = true;
  for (int64_t d : dims) i.dims.push_back(d >= 0 ? ir::Dim{d, ""} : ir::Dim{-1, "d"});
  return i;
}

std::vector<float> randv(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

struct B {
  ir::Graph& g;
  int k = 0;
  explicit B(ir::Graph& graph, int opset) : g(graph) { g.opsets()[""] = opset; }
  std::string name() { return "v" + std::to_string(k++); }
  ir::Value* input(const std::string& n, DType dt, std::vector<int64_t> dims) {
    ir::Value* v = *g.add_value(n, info(dt, std::move(dims)));
    g.add_input(v);
    return v;
  }
  ir::Value* c(Tensor t) { return *g.add_initializer(name(), std::move(t)); }
  ir::Value* fv(std::vector<int64_t> shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return c(Tensor::from_vector<float>(shape, randv(n, seed, lo, hi)));
  }
  ir::Value* op(const std::string& type, std::vector<ir::Value*> ins, ir::ValueInfo out,
                std::map<std::string, ir::Attribute> attrs = {}) {
    ir::Value* o = *g.add_value(name(), out);
    ir::Node* n = *g.add_node(type, "", ins, {o}, "n" + std::to_string(k));
    for (auto& [a, v] : attrs) n->set_attr(a, v);
    return o;
  }
  void output(ir::Value* v) { g.add_output(v); }
};

using Build = std::function<void(B&)>;

int count_op(const ir::Graph& g, const std::string& op) {
  int n = 0;
  for (const ir::Node* x : g.nodes()) n += x->op_type() == op ? 1 : 0;
  return n;
}

struct Fused {
  std::unique_ptr<ir::Graph> before, after;
  PassStats stats;
};

Fused fuse(int opset, const Build& build, std::unique_ptr<Pass> pass, std::string target = "cpu") {
  Fused r;
  r.before = std::make_unique<ir::Graph>();
  r.after = std::make_unique<ir::Graph>();
  B b1(*r.before, opset), b2(*r.after, opset);
  build(b1);
  build(b2);
  PassContext ctx;
  ctx.level = 99;
  ctx.target = std::move(target);
  auto changed = pass->run(*r.after, ctx);
  EXPECT_TRUE(changed.has_value()) << changed.status().message();
  Status v = r.after->verify();
  EXPECT_TRUE(v.is_ok()) << v.message();
  r.stats = ctx.stats;
  return r;
}

std::map<std::string, Tensor> random_feeds(const ir::Graph& g, uint32_t seed) {
  std::map<std::string, Tensor> feeds;
  for (const ir::Value* in : g.inputs()) {
    Shape s;
    for (const ir::Dim& d : in->info().dims) s.push_back(d.known() ? d.value : 3);
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    feeds[in->name()] = Tensor::from_vector<float>(s, randv(n, seed++, -2.f, 2.f));
  }
  return feeds;
}

void expect_same_outputs(const Fused& f, float tol = kTol) {
  auto feeds = random_feeds(*f.before, 7);
  cpu::Executor e1(*f.before, 1), e2(*f.after, 1);
  ASSERT_TRUE(e1.prepare().is_ok());
  Status p2 = e2.prepare();
  ASSERT_TRUE(p2.is_ok()) << p2.message();
  auto r1 = e1.run(feeds);
  auto r2 = e2.run(feeds);
  ASSERT_TRUE(r1.has_value()) << r1.status().message();
  ASSERT_TRUE(r2.has_value()) << r2.status().message();
  ASSERT_EQ(r1->size(), r2->size());
  for (size_t i = 0; i < r1->size(); ++i) {
    const Tensor& a = (*r1)[i];
    const Tensor& b = (*r2)[i];
    ASSERT_EQ(a.shape(), b.shape());
    ASSERT_EQ(a.dtype(), DType::kFloat32);
    float worst = 0;
    for (int64_t j = 0; j < a.numel(); ++j)
      worst = std::max(worst, std::fabs(a.data<float>()[j] - b.data<float>()[j]));
    EXPECT_LE(worst, tol) << "output " << i;
  }
}

// ---- Conv + BatchNormalization ---------------------------------------------------------------

// X [1, 3, 13, 13] -> Conv(W [m, 3/group, 3, 3], B?) -> BatchNormalization -> out.
Build conv_bn(int64_t m, bool bias, int64_t group = 1, bool extra_conv_user = false) {
  return [=](B& b) {
    ir::Value* x = b.input("x", DType::kFloat32, {1, 3 * group, 13, 13});
    std::vector<ir::Value*> ins{x, b.fv({m, 3, 3, 3}, 1)};
    if (bias) ins.push_back(b.fv({m}, 2));
    ir::Value* y = b.op("Conv", ins, info(DType::kFloat32, {1, m, 13, 13}),
                        {{"pads", ints_a({1, 1, 1, 1})}, {"group", int_a(group)}});
    ir::Value* z =
        b.op("BatchNormalization",
             {y, b.fv({m}, 3, 0.5f, 2.f), b.fv({m}, 4), b.fv({m}, 5), b.fv({m}, 6, 0.1f, 3.f)},
             info(DType::kFloat32, {1, m, 13, 13}), {{"epsilon", float_a(1e-3f)}});
    b.output(z);
    if (extra_conv_user) b.output(y);
  };
}

TEST(ConvBnFusion, FoldsIntoTheConvWithAndWithoutBias) {
  for (bool bias : {false, true}) {
    for (int64_t m : {1, 13}) {
      Fused f = fuse(15, conv_bn(m, bias), make_conv_bn_fusion());
      EXPECT_EQ(count_op(*f.after, "BatchNormalization"), 0);
      EXPECT_EQ(count_op(*f.after, "Conv"), 1);
      EXPECT_EQ(f.stats.get("ConvBatchNormalization"), 1);
      expect_same_outputs(f);
    }
  }
}

TEST(ConvBnFusion, GroupedConvAndOutputNameKept) {
  Fused f = fuse(15, conv_bn(6, true, 3), make_conv_bn_fusion());
  EXPECT_EQ(count_op(*f.after, "BatchNormalization"), 0);
  ASSERT_EQ(f.after->outputs().size(), 1u);
  EXPECT_EQ(f.after->outputs()[0]->name(), f.before->outputs()[0]->name());
  expect_same_outputs(f);
}

TEST(ConvBnFusion, NotWhenTheConvOutputEscapesOrStatisticsAreInputs) {
  Fused f = fuse(15, conv_bn(4, true, 1, true), make_conv_bn_fusion());
  EXPECT_EQ(count_op(*f.after, "BatchNormalization"), 1);
  Fused g = fuse(
      15,
      [](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {1, 3, 5, 5});
        ir::Value* mean = b.input("mean", DType::kFloat32, {2});
        ir::Value* y =
            b.op("Conv", {x, b.fv({2, 3, 1, 1}, 1)}, info(DType::kFloat32, {1, 2, 5, 5}));
        b.output(b.op("BatchNormalization",
                      {y, b.fv({2}, 3), b.fv({2}, 4), mean, b.fv({2}, 6, 0.1f, 1.f)},
                      info(DType::kFloat32, {1, 2, 5, 5})));
      },
      make_conv_bn_fusion());
  EXPECT_EQ(count_op(*g.after, "BatchNormalization"), 1);
  EXPECT_EQ(g.stats.get("ConvBatchNormalization"), 0);
}

TEST(ConvBnFusion, NotForTrainingModeOrStatisticsTheFoldCannotTake) {
  // var + epsilon <= 0 (the kernel's business, not the fold's), training_mode 1, a [1] scale.
  for (int variant = 0; variant < 3; ++variant) {
    Fused f = fuse(
        15,
        [variant](B& b) {
          ir::Value* x = b.input("x", DType::kFloat32, {1, 3, 5, 5});
          ir::Value* y =
              b.op("Conv", {x, b.fv({2, 3, 1, 1}, 1)}, info(DType::kFloat32, {1, 2, 5, 5}));
          ir::Value* var = variant == 0 ? b.fv({2}, 6, -2.f, -1.f) : b.fv({2}, 6, 0.1f, 1.f);
          ir::Value* scale = variant == 2 ? b.fv({1}, 3) : b.fv({2}, 3);
          std::map<std::string, ir::Attribute> attrs;
          if (variant == 1) attrs["training_mode"] = int_a(1);
          b.output(b.op("BatchNormalization", {y, scale, b.fv({2}, 4), b.fv({2}, 5), var},
                        info(DType::kFloat32, {1, 2, 5, 5}), attrs));
        },
        make_conv_bn_fusion());
    EXPECT_EQ(count_op(*f.after, "BatchNormalization"), 1) << variant;
  }
}

// ---- Conv + activation -> FusedConv ----------------------------------------------------------

struct ActCase {
  std::string op;
  std::map<std::string, ir::Attribute> attrs;
  std::vector<float> clip;  // Clip bounds as inputs (opset 11+)
};

Build conv_act(const ActCase& a, int64_t m = 13) {
  return [=](B& b) {
    ir::Value* x = b.input("x", DType::kFloat32, {1, 3, 13, 13});
    ir::Value* y = b.op("Conv", {x, b.fv({m, 3, 3, 3}, 1), b.fv({m}, 2)},
                        info(DType::kFloat32, {1, m, 13, 13}), {{"pads", ints_a({1, 1, 1, 1})}});
    std::vector<ir::Value*> ins{y};
    for (float c : a.clip) ins.push_back(b.c(Tensor::scalar<float>(c)));
    b.output(b.op(a.op, ins, info(DType::kFloat32, {1, m, 13, 13}), a.attrs));
  };
}

std::vector<ActCase> act_cases() {
  return {{"Relu", {}, {}},
          {"Tanh", {}, {}},
          {"Sigmoid", {}, {}},
          {"LeakyRelu", {{"alpha", float_a(0.2f)}}, {}},
          {"LeakyRelu", {}, {}},
          {"HardSigmoid", {{"alpha", float_a(0.3f)}, {"beta", float_a(0.4f)}}, {}},
          {"Clip", {}, {0.f, 6.f}},
          {"Clip", {}, {-0.5f}}};
}

TEST(ConvActivationFusion, EachActivationBecomesFusedConv) {
  for (const ActCase& a : act_cases()) {
    Fused f = fuse(15, conv_act(a), make_conv_activation_fusion(true));
    EXPECT_EQ(count_op(*f.after, "FusedConv"), 1) << a.op;
    EXPECT_EQ(count_op(*f.after, "Conv"), 0) << a.op;
    EXPECT_EQ(f.stats.get("FusedConv"), 1) << a.op;
    const ir::Node* n = f.after->nodes().back();
    EXPECT_EQ(n->domain(), "com.microsoft");
    ASSERT_NE(n->attr("activation"), nullptr);
    EXPECT_EQ(n->attr("activation")->s, a.op);
    ASSERT_NE(n->attr("pads"), nullptr);
  }
}

TEST(ConvActivationFusion, OnlyForTheCpuTargetAndOnlyWhenTheKernelIsThere) {
  for (const char* t : {"opencl", "vulkan"}) {
    Fused f = fuse(15, conv_act({"Relu", {}, {}}), make_conv_activation_fusion(true), t);
    EXPECT_EQ(count_op(*f.after, "FusedConv"), 0) << t;
  }
  const bool have = cpu::cpu_registry().has_op("com.microsoft", "FusedConv");
  Fused f = fuse(15, conv_act({"Relu", {}, {}}), make_conv_activation_fusion());
  EXPECT_EQ(count_op(*f.after, "FusedConv"), have ? 1 : 0);
  if (have) expect_same_outputs(f);
}

TEST(ConvActivationFusion, NotWhenTheConvOutputEscapes) {
  Fused f = fuse(
      15,
      [](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {1, 3, 5, 5});
        ir::Value* y =
            b.op("Conv", {x, b.fv({2, 3, 1, 1}, 1)}, info(DType::kFloat32, {1, 2, 5, 5}));
        b.output(b.op("Relu", {y}, info(DType::kFloat32, {1, 2, 5, 5})));
        b.output(y);
      },
      make_conv_activation_fusion(true));
  EXPECT_EQ(count_op(*f.after, "FusedConv"), 0);
}

TEST(ConvActivationFusion, NotForRuntimeClipBoundsNorNonFloatConvs) {
  Fused f = fuse(
      15,
      [](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {1, 3, 5, 5});
        ir::Value* lo = b.input("lo", DType::kFloat32, {});
        ir::Value* y =
            b.op("Conv", {x, b.fv({2, 3, 1, 1}, 1)}, info(DType::kFloat32, {1, 2, 5, 5}));
        b.output(b.op("Clip", {y, lo}, info(DType::kFloat32, {1, 2, 5, 5})));
      },
      make_conv_activation_fusion(true));
  EXPECT_EQ(count_op(*f.after, "FusedConv"), 0);
  Fused d = fuse(
      15,
      [](B& b) {
        ir::Value* x = b.input("x", DType::kFloat64, {1, 3, 5, 5});
        ir::Value* w = b.c(Tensor::from_vector<double>({2, 3, 1, 1}, std::vector<double>(6, 0.5)));
        ir::Value* y = b.op("Conv", {x, w}, info(DType::kFloat64, {1, 2, 5, 5}));
        b.output(b.op("Relu", {y}, info(DType::kFloat64, {1, 2, 5, 5})));
      },
      make_conv_activation_fusion(true));
  EXPECT_EQ(count_op(*d.after, "FusedConv"), 0);
}

// Runs one node of `g` (the last) on the CPU kernel `fn` with `ins`.
Tensor run_fused_conv(const ir::Node& n, const std::vector<const Tensor*>& ins, Status* st) {
  ThreadPool pool(2);
  cpu::OpContext ctx(n, ins, &pool);
  *st = cpu::contrib_fused_conv_kernel(ctx);
  if (st->is_ok() && !ctx.attr_error().is_ok()) *st = ctx.attr_error();
  return st->is_ok() ? ctx.outputs()[0] : Tensor();
}

TEST(FusedConvKernel, EqualsConvThenTheActivationOnOddSizes) {
  for (const ActCase& a : act_cases()) {
    for (int64_t m : {1, 13}) {
      Fused f = fuse(15, conv_act(a, m), make_conv_activation_fusion(true));
      ASSERT_EQ(count_op(*f.after, "FusedConv"), 1);
      auto feeds = random_feeds(*f.before, 11);
      cpu::Executor e1(*f.before, 1);
      ASSERT_TRUE(e1.prepare().is_ok());
      auto r1 = e1.run(feeds);
      ASSERT_TRUE(r1.has_value()) << r1.status().message();
      const ir::Node* n = f.after->nodes().back();
      std::vector<const Tensor*> ins{&feeds.at("x")};
      for (size_t i = 1; i < n->inputs().size(); ++i) ins.push_back(&n->input(i)->initializer());
      Status st;
      Tensor y = run_fused_conv(*n, ins, &st);
      ASSERT_TRUE(st.is_ok()) << st.message();
      const Tensor& ref = (*r1)[0];
      ASSERT_EQ(y.shape(), ref.shape());
      float worst = 0;
      for (int64_t j = 0; j < y.numel(); ++j)
        worst = std::max(worst, std::fabs(y.data<float>()[j] - ref.data<float>()[j]));
      EXPECT_LE(worst, kTol) << a.op << " m=" << m;
    }
  }
}

TEST(FusedConvKernel, BadActivationsNameTheNode) {
  Fused f = fuse(15, conv_act({"LeakyRelu", {}, {}}, 2), make_conv_activation_fusion(true));
  ir::Node* n = f.after->nodes().back();
  Tensor x = Tensor::from_vector<float>({1, 3, 13, 13}, randv(3 * 169, 1));
  std::vector<const Tensor*> ins{&x};
  for (size_t i = 1; i < n->inputs().size(); ++i) ins.push_back(&n->input(i)->initializer());
  ir::Attribute s;
  s.type = ir::AttrType::kString;
  s.s = "Swish";
  n->set_attr("activation", s);
  Status st;
  run_fused_conv(*n, ins, &st);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("FusedConv"), std::string::npos) << st.message();
  s.s = "Clip";
  n->set_attr("activation", s);
  ir::Attribute p;
  p.type = ir::AttrType::kFloats;
  p.floats = {1.f};
  n->set_attr("activation_params", p);
  run_fused_conv(*n, ins, &st);
  EXPECT_FALSE(st.is_ok());
  p.floats = {2.f, 1.f};
  n->set_attr("activation_params", p);
  run_fused_conv(*n, ins, &st);
  EXPECT_FALSE(st.is_ok());
  Tensor z = Tensor::from_vector<float>({1, 2, 13, 13}, randv(2 * 169, 2));
  p.floats = {0.f, 1.f};
  n->set_attr("activation_params", p);
  ins.resize(3, nullptr);
  ins.push_back(&z);
  run_fused_conv(*n, ins, &st);
  EXPECT_FALSE(st.is_ok());
}

// ---- MatMulInteger + Cast + Mul [+ Add] -> MatMulIntegerToFloat ------------------------------

// A float [m, k] -> DynamicQuantizeLinear -> MatMulInteger(B uint8/int8 [k, n], zero points) ->
// Cast -> Mul(Mul(a_scale, b_scale)) [-> Add(bias)], as quantize_dynamic writes it.
Build qmatmul(int64_t m, int64_t k, int64_t n, bool bias, bool per_column, bool swap_mul = false,
              int64_t bias_len = -1) {
  return [=](B& b) {
    ir::Value* x = b.input("x", DType::kFloat32, {m, k});
    ir::Value* xq = *b.g.add_value("xq", info(DType::kUInt8, {m, k}));
    ir::Value* xs = *b.g.add_value("xs", info(DType::kFloat32, {}));
    ir::Value* xz = *b.g.add_value("xz", info(DType::kUInt8, {}));
    (void)*b.g.add_node("DynamicQuantizeLinear", "", {x}, {xq, xs, xz}, "dql");
    std::vector<int8_t> w(static_cast<size_t>(k * n));
    std::mt19937 rng(5);
    for (int8_t& v : w) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    ir::Value* wq = b.c(Tensor::from_vector<int8_t>({k, n}, w));
    ir::Value* wz = b.c(per_column ? Tensor::from_vector<int8_t>({n}, std::vector<int8_t>(n, 3))
                                   : Tensor::scalar<int8_t>(0));
    ir::Value* ws = per_column ? b.fv({n}, 8, 0.001f, 0.01f) : b.c(Tensor::scalar<float>(0.0071f));
    ir::Value* acc = b.op("MatMulInteger", {xq, wq, xz, wz}, info(DType::kInt32, {m, n}));
    ir::Value* accf = b.op("Cast", {acc}, info(DType::kFloat32, {m, n}), {{"to", int_a(1)}});
    ir::Value* sc =
        b.op("Mul", {xs, ws},
             info(DType::kFloat32, per_column ? std::vector<int64_t>{n} : std::vector<int64_t>{}));
    ir::Value* y = b.op(
        "Mul", swap_mul ? std::vector<ir::Value*>{sc, accf} : std::vector<ir::Value*>{accf, sc},
        info(DType::kFloat32, {m, n}));
    if (bias)
      y = b.op("Add", {y, b.fv({bias_len < 0 ? n : bias_len}, 9)}, info(DType::kFloat32, {m, n}));
    b.output(y);
  };
}

TEST(MatMulIntegerToFloatFusion, QuantizeDynamicOutputBecomesOneNode) {
  for (bool bias : {false, true}) {
    for (bool pc : {false, true}) {
      for (auto [m, k, n] :
           {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {13, 127, 5}, {3, 13, 127}}) {
        Fused f = fuse(13, qmatmul(m, k, n, bias, pc, pc), make_matmul_integer_to_float_fusion());
        EXPECT_EQ(count_op(*f.after, "MatMulIntegerToFloat"), 1);
        EXPECT_EQ(count_op(*f.after, "MatMulInteger"), 0);
        EXPECT_EQ(count_op(*f.after, "Cast"), 0);
        EXPECT_EQ(count_op(*f.after, "Mul"), 0);
        EXPECT_EQ(count_op(*f.after, "Add"), 0);
        EXPECT_EQ(f.stats.get("MatMulIntegerToFloat"), 1);
        expect_same_outputs(f);
      }
    }
  }
}

TEST(MatMulIntegerToFloatFusion, NotWhenAnIntermediateEscapesOrTheBiasDoesNotFit) {
  Fused f = fuse(
      13,
      [](B& b) {
        qmatmul(4, 6, 5, false, false)(b);
        // The Cast's output escapes: nothing fuses.
        b.output(b.g.nodes()[2]->output(0));
      },
      make_matmul_integer_to_float_fusion());
  EXPECT_EQ(count_op(*f.after, "MatMulIntegerToFloat"), 0);
  // A bias of the wrong length stays a separate Add (the MatMul part still fuses).
  Fused g =
      fuse(13, qmatmul(4, 6, 5, true, false, false, 1), make_matmul_integer_to_float_fusion());
  EXPECT_EQ(count_op(*g.after, "MatMulIntegerToFloat"), 1);
  EXPECT_EQ(count_op(*g.after, "Add"), 1);
  expect_same_outputs(g);
}

// ---- DynamicQuantizeLinear + MatMulIntegerToFloat -> DynamicQuantizeMatMul ----------------

// Runs MatMulIntegerToFloat then DynamicQuantizeMatMul fusion.
class QuantPasses : public Pass {
 public:
  std::string name() const override { return "quant_passes"; }
  Expected<bool> run(ir::Graph& g, PassContext& ctx) override {
    KILN_ASSIGN_OR_RETURN(bool a, make_matmul_integer_to_float_fusion()->run(g, ctx));
    KILN_ASSIGN_OR_RETURN(bool b, make_dynamic_quantize_matmul_fusion()->run(g, ctx));
    return a || b;
  }
};

TEST(DynamicQuantizeMatMulFusion, AnUnsharedQuantizationJoinsTheMatMul) {
  for (bool bias : {false, true}) {
    for (bool pc : {false, true}) {
      for (auto [m, k, n] :
           {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {13, 127, 5}, {3, 13, 127}}) {
        Fused f = fuse(13, qmatmul(m, k, n, bias, pc), std::make_unique<QuantPasses>());
        EXPECT_EQ(count_op(*f.after, "DynamicQuantizeMatMul"), 1);
        EXPECT_EQ(count_op(*f.after, "DynamicQuantizeLinear"), 0);
        EXPECT_EQ(count_op(*f.after, "MatMulIntegerToFloat"), 0);
        EXPECT_EQ(f.stats.get("DynamicQuantizeMatMul"), 1);
        EXPECT_EQ(f.stats.get("MatMulIntegerToFloat"), 0);
        expect_same_outputs(f);
      }
    }
  }
}

TEST(DynamicQuantizeMatMulFusion, NotWhenTheQuantizedActivationIsShared) {
  Fused f = fuse(
      13,
      [](B& b) {
        qmatmul(4, 6, 5, false, false)(b);
        // A second MatMulInteger reads the same quantized x.
        const ir::Node* dql = b.g.nodes()[0];
        ir::Value* w2 = b.c(Tensor::from_vector<int8_t>({6, 2}, std::vector<int8_t>(12, 7)));
        ir::Value* acc = b.op("MatMulInteger", {dql->output(0), w2, dql->output(2)},
                              info(DType::kInt32, {4, 2}));
        b.output(b.op("Cast", {acc}, info(DType::kFloat32, {4, 2}), {{"to", int_a(1)}}));
      },
      std::make_unique<QuantPasses>());
  EXPECT_EQ(count_op(*f.after, "DynamicQuantizeMatMul"), 0);
  EXPECT_EQ(count_op(*f.after, "MatMulIntegerToFloat"), 1);
  EXPECT_EQ(count_op(*f.after, "DynamicQuantizeLinear"), 1);
  expect_same_outputs(f);
}

// ---- Elementwise chains -> ai.kiln FusedElementwise ------------------------------------------
// The fused graph must give bit-equal results (tolerance 0): each instruction computes what the
// reference kernel of its op computes (runtime/device/fused_program.h).

Fused fuse_chain(int opset, const Build& build, std::string target = "cpu",
                 bool session_only = true) {
  Fused r;
  r.before = std::make_unique<ir::Graph>();
  r.after = std::make_unique<ir::Graph>();
  B b1(*r.before, opset), b2(*r.after, opset);
  build(b1);
  build(b2);
  PassContext ctx;
  ctx.level = 99;
  ctx.target = std::move(target);
  ctx.session_only_ops = session_only;
  auto changed = make_elementwise_chain_fusion()->run(*r.after, ctx);
  EXPECT_TRUE(changed.has_value()) << changed.status().message();
  Status v = r.after->verify();
  EXPECT_TRUE(v.is_ok()) << v.message();
  r.stats = ctx.stats;
  return r;
}

int count_fused(const ir::Graph& g) {
  int n = 0;
  for (const ir::Node* x : g.nodes())
    n += x->op_type() == "FusedElementwise" && x->domain() == "ai.kiln" ? 1 : 0;
  return n;
}

ir::Value* scalar_c(B& b, float v) {
  return b.c(Tensor::scalar<float>(v));
}

// x -> Add(3) -> Clip(0, 6) -> Div(6) -> Mul(x, .): the hard-swish exporters write (MobileNetV3).
Build hard_swish(std::vector<int64_t> shape) {
  return [=](B& b) {
    ir::Value* x = b.input("x", DType::kFloat32, shape);
    ir::ValueInfo f = info(DType::kFloat32, shape);
    ir::Value* a = b.op("Add", {x, scalar_c(b, 3.f)}, f);
    ir::Value* c = b.op("Clip", {a, scalar_c(b, 0.f), scalar_c(b, 6.f)}, f);
    ir::Value* d = b.op("Div", {c, scalar_c(b, 6.f)}, f);
    b.output(b.op("Mul", {x, d}, f));
  };
}

TEST(ElementwiseChainFusion, HardSwishChainBecomesOneNode) {
  for (std::vector<int64_t> shape :
       std::vector<std::vector<int64_t>>{{1}, {13}, {2, 127}, {1, 3, 13, 13}}) {
    Fused f = fuse_chain(13, hard_swish(shape));
    ASSERT_EQ(f.after->num_nodes(), 1u);
    EXPECT_EQ(count_fused(*f.after), 1);
    EXPECT_EQ(f.stats.get("FusedElementwise"), 1);
    EXPECT_EQ(f.stats.get("elementwise_nodes_fused"), 4);
    const ir::Node* n = f.after->nodes()[0];
    ASSERT_EQ(n->inputs().size(), 1u);  // x only: the scalars are immediates
    EXPECT_EQ(n->input(0)->name(), "x");
    EXPECT_EQ(f.after->outputs()[0]->name(), f.before->outputs()[0]->name());
    auto prog = device::fused::decode(*n);
    ASSERT_TRUE(prog.has_value()) << prog.status().message();
    EXPECT_EQ(prog->to_string(),
              "r1 = Add(r0, 3); r2 = Clip(r1) [0, 6]; r3 = Div(r2, 6); r4 = Mul(r0, r3)");
    EXPECT_EQ(f.after->opset("ai.kiln"), 1);
    expect_same_outputs(f, 0.f);
  }
}

// A tree with three inputs that broadcast: Sigmoid(x + bias) * Tanh(y) - 0.5, x [2, 13, 127],
// bias [13, 1] (a constant), y [127].
TEST(ElementwiseChainFusion, BroadcastingTreeWithSeveralInputs) {
  for (int64_t c : {1, 13}) {
    for (int64_t w : {1, 13, 127}) {
      Fused f = fuse_chain(13, [=](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {2, c, w});
        ir::Value* y = b.input("y", DType::kFloat32, {w});
        ir::ValueInfo o = info(DType::kFloat32, {2, c, w});
        ir::Value* s = b.op("Sigmoid", {b.op("Add", {x, b.fv({c, 1}, 3)}, o)}, o);
        ir::Value* t = b.op("Tanh", {y}, info(DType::kFloat32, {w}));
        b.output(b.op("Sub", {b.op("Mul", {s, t}, o), scalar_c(b, 0.5f)}, o));
      });
      ASSERT_EQ(f.after->num_nodes(), 1u) << c << "x" << w;
      // A one-element bias ([1, 1] next to rank 3) becomes an immediate.
      EXPECT_EQ(f.after->nodes()[0]->inputs().size(), c == 1 ? 2u : 3u);
      EXPECT_EQ(f.stats.get("elementwise_nodes_fused"), 5);
      expect_same_outputs(f, 0.f);
    }
  }
}

// Every op the pass fuses, inside x -> Abs -> Add(0.25) -> OP [(., y)] -> Neg (positive operands
// for Log, Sqrt and Pow), compared bit for bit with the unfused nodes.
TEST(ElementwiseChainFusion, EveryOpBitEqualToTheUnfusedNodes) {
  struct OpC {
    std::string op;
    int inputs;  // 1 unary, 2 binary with y, 3 binary with an immediate
    std::map<std::string, ir::Attribute> attrs;
  };
  const std::vector<OpC> ops = {
      {"Add", 2, {}},        {"Sub", 2, {}},         {"Mul", 2, {}},
      {"Div", 2, {}},        {"Pow", 2, {}},         {"Max", 2, {}},
      {"Min", 2, {}},        {"Pow", 3, {}},         {"Sub", 3, {}},
      {"Relu", 1, {}},       {"Sigmoid", 1, {}},     {"Tanh", 1, {}},
      {"Exp", 1, {}},        {"Log", 1, {}},         {"Sqrt", 1, {}},
      {"Neg", 1, {}},        {"Abs", 1, {}},         {"Erf", 1, {}},
      {"Reciprocal", 1, {}}, {"HardSwish", 1, {}},   {"LeakyRelu", 1, {{"alpha", float_a(0.3f)}}},
      {"HardSigmoid", 1, {{"alpha", float_a(0.25f)}, {"beta", float_a(0.4f)}}},
  };
  for (const OpC& oc : ops) {
    for (int64_t n : {1, 13, 127}) {
      Fused f = fuse_chain(14, [&](B& b) {
        ir::ValueInfo o = info(DType::kFloat32, {3, n});
        ir::Value* x = b.input("x", DType::kFloat32, {3, n});
        ir::Value* a = b.op("Add", {b.op("Abs", {x}, o), scalar_c(b, 0.25f)}, o);
        ir::Value* r;
        if (oc.inputs == 1) {
          r = b.op(oc.op, {a}, o, oc.attrs);
        } else if (oc.inputs == 2) {
          ir::Value* y = b.input("y", DType::kFloat32, {n});
          r = b.op(oc.op, {a, y}, o, oc.attrs);
        } else {
          r = b.op(oc.op, {scalar_c(b, 1.5f), a}, o, oc.attrs);  // immediate first
        }
        b.output(b.op("Neg", {r}, o));
      });
      ASSERT_EQ(f.after->num_nodes(), 1u) << oc.op;
      EXPECT_EQ(f.stats.get("elementwise_nodes_fused"), 4) << oc.op;
      std::string trace = oc.op;
      trace += " n=";
      trace += std::to_string(n);
      SCOPED_TRACE(trace);
      expect_same_outputs(f, 0.f);
    }
  }
}

TEST(ElementwiseChainFusion, ClipBoundsAsAttributesAndConstants) {
  for (int opset : {6, 13}) {
    Fused f = fuse_chain(opset, [&](B& b) {
      ir::ValueInfo o = info(DType::kFloat32, {13});
      ir::Value* x = b.input("x", DType::kFloat32, {13});
      ir::Value* e = b.op("Exp", {x}, o);
      ir::Value* c = opset < 11 ? b.op("Clip", {e}, o, {{"min", float_a(0.5f)}, {"max", float_a(2.f)}})
                                : b.op("Clip", {e, scalar_c(b, 0.5f), scalar_c(b, 2.f)}, o);
      b.output(c);
    });
    ASSERT_EQ(f.after->num_nodes(), 1u) << opset;
    expect_same_outputs(f, 0.f);
  }
}

TEST(ElementwiseChainFusion, LongChainsSplitAtTheInstructionLimit) {
  Fused f = fuse_chain(13, [](B& b) {
    ir::ValueInfo o = info(DType::kFloat32, {127});
    ir::Value* v = b.input("x", DType::kFloat32, {127});
    for (int i = 0; i < 40; ++i) v = b.op(i % 2 ? "Neg" : "Sigmoid", {v}, o);
    b.output(v);
  });
  EXPECT_EQ(count_fused(*f.after), 2);
  EXPECT_EQ(f.after->num_nodes(), 2u);
  EXPECT_EQ(f.stats.get("elementwise_nodes_fused"), 40);
  expect_same_outputs(f, 0.f);
}

TEST(ElementwiseChainFusion, TooManyInputsStayOutside) {
  // Add of six inputs in a chain: at most four inputs per fused node.
  Fused f = fuse_chain(13, [](B& b) {
    ir::ValueInfo o = info(DType::kFloat32, {13});
    ir::Value* v = b.input("x0", DType::kFloat32, {13});
    for (int i = 1; i < 6; ++i) {
      std::string name = "x";
      name += std::to_string(i);
      v = b.op("Add", {v, b.input(name, DType::kFloat32, {13})}, o);
    }
    b.output(v);
  });
  for (const ir::Node* n : f.after->nodes())
    EXPECT_LE(n->inputs().size(), static_cast<size_t>(device::fused::kMaxInputs));
  EXPECT_GE(count_fused(*f.after), 1);
  expect_same_outputs(f, 0.f);
}

TEST(ElementwiseChainFusion, NotAcrossSharedOrEscapingValuesNorOtherTypes) {
  // The Exp output is also a graph output; the Relu output has two readers.
  Fused f = fuse_chain(13, [](B& b) {
    ir::ValueInfo o = info(DType::kFloat32, {13});
    ir::Value* x = b.input("x", DType::kFloat32, {13});
    ir::Value* e = b.op("Exp", {x}, o);
    b.output(e);
    ir::Value* r = b.op("Relu", {e}, o);
    b.output(b.op("Neg", {r}, o));
    b.output(b.op("Abs", {r}, o));
  });
  EXPECT_EQ(count_fused(*f.after), 0);
  EXPECT_EQ(f.after->num_nodes(), 4u);
  // int64 Add -> Neg, a single op, and a graph that leaves the session: nothing.
  Fused g = fuse_chain(13, [](B& b) {
    ir::ValueInfo o = info(DType::kInt64, {13});
    ir::Value* x = b.input("x", DType::kInt64, {13});
    b.output(b.op("Neg", {b.op("Add", {x, x}, o)}, o));
  });
  EXPECT_EQ(count_fused(*g.after), 0);
  Fused h = fuse_chain(13, [](B& b) {
    ir::Value* x = b.input("x", DType::kFloat32, {13});
    b.output(b.op("Relu", {x}, info(DType::kFloat32, {13})));
  });
  EXPECT_EQ(count_fused(*h.after), 0);
  Fused k = fuse_chain(13, hard_swish({13}), "cpu", /*session_only=*/false);
  EXPECT_EQ(count_fused(*k.after), 0);
  Fused u = fuse_chain(13, hard_swish({13}), "tpu");
  EXPECT_EQ(count_fused(*u.after), 0);
  for (const char* t : {"opencl", "vulkan"})
    EXPECT_EQ(count_fused(*fuse_chain(13, hard_swish({13}), t).after), 1) << t;
}

// A scalar constant of rank 2 next to a rank-1 value widens the result: it stays an input.
TEST(ElementwiseChainFusion, RankWideningConstantStaysAnInput) {
  Fused f = fuse_chain(13, [](B& b) {
    ir::Value* x = b.input("x", DType::kFloat32, {13});
    ir::Value* a = b.op("Add", {x, b.c(Tensor::from_vector<float>({1, 1}, {2.f}))},
                        info(DType::kFloat32, {1, 13}));
    b.output(b.op("Relu", {a}, info(DType::kFloat32, {1, 13})));
  });
  ASSERT_EQ(f.after->num_nodes(), 1u);
  EXPECT_EQ(f.after->nodes()[0]->inputs().size(), 2u);
  expect_same_outputs(f, 0.f);
}

TEST(FusedElementwiseKernel, BadProgramsNameTheNode) {
  ir::Graph g;
  B b(g, 13);
  g.opsets()["ai.kiln"] = 1;
  ir::Value* x = b.input("x", DType::kFloat32, {4});
  ir::Value* y = *g.add_value("y", info(DType::kFloat32, {4}));
  ir::Node* n = *g.add_node("FusedElementwise", "ai.kiln", {x}, {y}, "fz");
  g.add_output(y);
  device::fused::Program p;
  p.num_inputs = 1;
  p.instrs.push_back({device::fused::Op::kAdd, 0, 1, 0, 0});  // reads r1 before it exists
  for (auto& [k, a] : device::fused::encode(p)) n->set_attr(k, a);
  cpu::Executor e(g, 1);
  ASSERT_TRUE(e.prepare().is_ok());
  auto r = e.run({{"x", Tensor::from_vector<float>({4}, {1, 2, 3, 4})}});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().message().find("fz"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("bad operands"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace kiln::passes
