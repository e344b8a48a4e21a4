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

}  // namespace
}  // namespace kiln::passes
