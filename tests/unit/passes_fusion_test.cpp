// Level-2 fusion passes (graph/passes/*_fusion.cpp): before/after IR checks on small hand-built
// graphs in the spellings the exporters write, cases that must not fuse, and numeric equality of
// the graph before and after on random inputs with the CPU executor (skipped while a fused op
// has no CPU kernel yet).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "graph/ir/graph.h"
#include "graph/passes/extended_passes.h"
#include "graph/passes/pass.h"
#include "runtime/cpu/executor.h"
#include "runtime/cpu/kernel.h"

namespace kiln::passes {
namespace {

ir::Attribute int_a(int64_t v) {
  ir::Attribute a;
  a.type = ir::AttrType::kInt;
  a.i = v;
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

// A small graph builder: values named v0, v1 ...; output infos copied from the highest-rank
// input unless given.
struct B {
  ir::Graph& g;
  int k = 0;
  explicit B(ir::Graph& graph, int opset) : g(graph) { g.opsets()[""] = opset; }
  std::string name() {
    std::string s = "v";
    s += std::to_string(k++);
    return s;
  }
  ir::Value* input(const std::string& n, DType dt, std::vector<int64_t> dims) {
    ir::Value* v = *g.add_value(n, info(dt, std::move(dims)));
    g.add_input(v);
    return v;
  }
  ir::Value* c(Tensor t) { return *g.add_initializer(name(), std::move(t)); }
  ir::Value* f(float x) { return c(Tensor::scalar<float>(x)); }
  ir::Value* fv(std::vector<int64_t> shape, std::vector<float> v) {
    return c(Tensor::from_vector<float>(shape, v));
  }
  ir::Value* iv(std::vector<int64_t> v) {
    return c(Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v));
  }
  ir::Value* op(const std::string& type, std::vector<ir::Value*> ins,
                std::map<std::string, ir::Attribute> attrs = {},
                std::optional<ir::ValueInfo> out_info = std::nullopt) {
    // Default: the info of the highest-rank input (elementwise broadcast of equal shapes).
    ir::ValueInfo oi;
    for (ir::Value* i : ins)
      if (i && (!oi.has_shape || i->info().dims.size() > oi.dims.size())) oi = i->info();
    if (out_info) oi = *out_info;
    ir::Value* o = *g.add_value(name(), oi);
    std::string nn = "n";
    nn += std::to_string(k);
    ir::Node* n = *g.add_node(type, "", ins, {o}, nn);
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

// Builds the graph twice, optimizes one with `pass` (or the whole level 2 when null), checks it
// verifies, and returns the optimized graph.
struct Fused {
  std::unique_ptr<ir::Graph> before, after;
  PassStats stats;
};

Fused fuse(int opset, const Build& build, std::unique_ptr<Pass> pass) {
  Fused r;
  r.before = std::make_unique<ir::Graph>();
  r.after = std::make_unique<ir::Graph>();
  B b1(*r.before, opset), b2(*r.after, opset);
  build(b1);
  build(b2);
  PassContext ctx;
  ctx.level = 2;
  if (pass) {
    auto changed = pass->run(*r.after, ctx);
    EXPECT_TRUE(changed.has_value()) << changed.status().message();
  } else {
    Status st = optimize(*r.after, ctx);
    EXPECT_TRUE(st.is_ok()) << st.message();
  }
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
    if (in->info().dtype == DType::kFloat32) {
      feeds[in->name()] = Tensor::from_vector<float>(s, randv(n, seed++, -2.f, 2.f));
    } else {  // ids and masks: 0/1 with the first of each row 1
      std::vector<int64_t> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) v[i] = (i % s.back() == 0) ? 1 : ((i * 7 + seed) % 3 != 0);
      feeds[in->name()] = Tensor::from_vector<int64_t>(s, v);
    }
  }
  return feeds;
}

std::string missing_kernel(const ir::Graph& g) {
  for (const ir::Node* n : g.nodes())
    if (!cpu::cpu_registry().find(n->domain(), n->op_type(), n->opset()))
      return n->domain() + ":" + n->op_type();
  return "";
}

// Runs before and after on the same random inputs; max abs difference must be <= tol.
void expect_same_outputs(const Fused& f, float tol = 1e-5f) {
  std::string miss = missing_kernel(*f.after);
  if (!miss.empty()) GTEST_SKIP() << "no CPU kernel for " << miss << " yet";
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

constexpr int64_t kH = 8;

// ---- LayerNormalization ---------------------------------------------------------------------

struct LnOpts {
  bool axes_input = false;  // opset 18 spelling
  bool two_subs = false;
  bool cast_pow = false;
  bool reciprocal = false;
  bool beta = true;
  int64_t axis = -1;
};

ir::Value* primitive_ln(B& b, ir::Value* x, const LnOpts& o, uint32_t seed = 1) {
  auto rmean = [&](ir::Value* v) {
    if (o.axes_input) return b.op("ReduceMean", {v, b.iv({o.axis})});
    return b.op("ReduceMean", {v}, {{"axes", ints_a({o.axis})}});
  };
  ir::Value* m = rmean(x);
  ir::Value* d = b.op("Sub", {x, m});
  ir::Value* d2 = o.two_subs ? b.op("Sub", {x, m}) : d;
  ir::Value* sq_in = o.cast_pow ? b.op("Cast", {d}, {{"to", int_a(1)}}) : d;
  ir::Value* sq = b.op("Pow", {sq_in, b.f(2.f)});
  ir::Value* var = rmean(sq);
  ir::Value* s = b.op("Sqrt", {b.op("Add", {var, b.f(1e-5f)})});
  ir::Value* n = o.reciprocal ? b.op("Mul", {d2, b.op("Reciprocal", {s})}) : b.op("Div", {d2, s});
  ir::Value* y = b.op("Mul", {n, b.fv({kH}, randv(kH, seed, 0.5f, 1.5f))});
  if (o.beta) y = b.op("Add", {b.fv({kH}, randv(kH, seed + 1)), y});
  return y;
}

void ln_graph(B& b, const LnOpts& o) {
  ir::Value* x = b.input("x", DType::kFloat32, {2, 3, kH});
  b.output(primitive_ln(b, x, o));
}

TEST(LayerNormFusion, PrimitiveSpellingBecomesOneNode) {
  for (int variant = 0; variant < 5; ++variant) {
    LnOpts o;
    o.two_subs = variant == 1;
    o.cast_pow = variant == 2;
    o.reciprocal = variant == 3;
    o.beta = variant != 4;
    Fused f = fuse(
        17, [&](B& b) { ln_graph(b, o); }, make_layer_norm_fusion());
    ASSERT_EQ(f.after->num_nodes(), 1u) << "variant " << variant << "\n" << f.after->dump();
    const ir::Node* n = f.after->nodes()[0];
    EXPECT_EQ(n->op_type(), "LayerNormalization");
    EXPECT_EQ(n->domain(), "");
    EXPECT_EQ(n->inputs().size(), o.beta ? 3u : 2u);
    EXPECT_NEAR(n->attr("epsilon")->f, 1e-5f, 1e-9f);
    EXPECT_EQ(n->attr("axis")->i, -1);
    EXPECT_EQ(f.stats.get("LayerNormalization"), 1);
    EXPECT_EQ(f.after->outputs()[0]->name(), f.before->outputs()[0]->name());
    expect_same_outputs(f);
  }
}

TEST(LayerNormFusion, AxesAsInputFromOpset18) {
  LnOpts o;
  o.axes_input = true;
  Fused f = fuse(
      18, [&](B& b) { ln_graph(b, o); }, make_layer_norm_fusion());
  ASSERT_EQ(f.after->num_nodes(), 1u) << f.after->dump();
  EXPECT_EQ(f.after->nodes()[0]->op_type(), "LayerNormalization");
  expect_same_outputs(f);
}

TEST(LayerNormFusion, LowOpsetGetsTheDefaultDomainNodeAsOnnxRuntimeWrites) {
  Fused f = fuse(
      14, [&](B& b) { ln_graph(b, {}); }, make_layer_norm_fusion());
  ASSERT_EQ(f.after->num_nodes(), 1u);
  EXPECT_EQ(f.after->nodes()[0]->op_type(), "LayerNormalization");
  EXPECT_EQ(f.after->nodes()[0]->domain(), "");
  expect_same_outputs(f);
}

TEST(LayerNormFusion, NotOverAnotherAxisNorWhenIntermediatesEscape) {
  LnOpts o;
  o.axis = 1;
  Fused f = fuse(
      17, [&](B& b) { ln_graph(b, o); }, make_layer_norm_fusion());
  EXPECT_EQ(count_op(*f.after, "LayerNormalization"), 0);
  // The centred value is also a graph output.
  Fused g = fuse(
      17,
      [&](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {2, 3, kH});
        ir::Value* y = primitive_ln(b, x, {});
        b.output(y);
        for (ir::Node* n : b.g.nodes())
          if (n->op_type() == "Sub") b.output(n->output(0));
      },
      make_layer_norm_fusion());
  EXPECT_EQ(count_op(*g.after, "LayerNormalization"), 0);
  EXPECT_EQ(g.stats.get("LayerNormalization"), 0);
}

TEST(LayerNormFusion, RmsNormAsT5WritesIt) {
  Fused f = fuse(
      14,
      [&](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {2, 3, kH});
        ir::Value* var = b.op("ReduceMean", {b.op("Pow", {x, b.f(2.f)})},
                              {{"axes", ints_a({-1})}, {"keepdims", int_a(1)}});
        ir::Value* s = b.op("Sqrt", {b.op("Add", {var, b.f(1e-6f)})});
        ir::Value* r = b.op("Div", {b.f(1.f), s});
        ir::Value* n = b.op("Mul", {x, r});
        b.output(b.op("Mul", {b.fv({kH}, randv(kH, 3)), n}));
      },
      make_layer_norm_fusion());
  ASSERT_EQ(f.after->num_nodes(), 1u) << f.after->dump();
  EXPECT_EQ(f.after->nodes()[0]->op_type(), "SimplifiedLayerNormalization");
  EXPECT_EQ(f.stats.get("SimplifiedLayerNormalization"), 1);
  expect_same_outputs(f);
}

// ---- GELU -----------------------------------------------------------------------------------

ir::Value* gelu_erf(B& b, ir::Value* x, int spelling) {
  ir::Value* e = b.op("Erf", {b.op("Div", {x, b.f(1.4142135f)})});
  ir::Value* a = b.op("Add", {e, b.f(1.f)});
  switch (spelling) {
    case 0:
      return b.op("Mul", {b.op("Mul", {x, a}), b.f(0.5f)});
    case 1:
      return b.op("Mul", {b.op("Mul", {x, b.f(0.5f)}), a});
    default:
      return b.op("Mul", {x, b.op("Mul", {a, b.f(0.5f)})});
  }
}

TEST(GeluFusion, ErfFormInEachSpelling) {
  for (int sp = 0; sp < 3; ++sp) {
    Fused f = fuse(
        14,
        [&](B& b) {
          ir::Value* x = b.input("x", DType::kFloat32, {2, 5});
          b.output(gelu_erf(b, x, sp));
        },
        make_gelu_fusion());
    ASSERT_EQ(f.after->num_nodes(), 1u) << f.after->dump();
    EXPECT_EQ(f.after->nodes()[0]->op_type(), "Gelu");
    EXPECT_EQ(f.after->nodes()[0]->domain(), "com.microsoft");
    EXPECT_EQ(f.after->opset("com.microsoft"), 1);
    EXPECT_EQ(f.stats.get("Gelu"), 1);
    expect_same_outputs(f);
  }
}

TEST(GeluFusion, WrongConstantDoesNotFuse) {
  Fused f = fuse(
      14,
      [&](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {2, 5});
        ir::Value* e = b.op("Erf", {b.op("Div", {x, b.f(1.5f)})});
        b.output(b.op("Mul", {b.op("Mul", {x, b.op("Add", {e, b.f(1.f)})}), b.f(0.5f)}));
      },
      make_gelu_fusion());
  EXPECT_EQ(count_op(*f.after, "Gelu"), 0);
}

ir::Value* gelu_tanh(B& b, ir::Value* x) {  // GPT-2's gelu_new
  ir::Value* half = b.op("Mul", {x, b.f(0.5f)});
  ir::Value* cube = b.op("Pow", {x, b.f(3.f)});
  ir::Value* inner = b.op("Add", {x, b.op("Mul", {cube, b.f(0.044715f)})});
  ir::Value* t = b.op("Tanh", {b.op("Mul", {inner, b.f(0.7978845608f)})});
  return b.op("Mul", {half, b.op("Add", {t, b.f(1.f)})});
}

TEST(GeluFusion, TanhFormBecomesFastGelu) {
  Fused f = fuse(
      14,
      [&](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {2, 5});
        b.output(gelu_tanh(b, x));
      },
      make_gelu_fusion());
  ASSERT_EQ(f.after->num_nodes(), 1u) << f.after->dump();
  EXPECT_EQ(f.after->nodes()[0]->op_type(), "FastGelu");
  EXPECT_EQ(f.stats.get("FastGelu"), 1);
  expect_same_outputs(f);
}

TEST(BiasGeluFusion, BiasAddFoldsIntoBiasGeluAndFastGelu) {
  for (bool fast : {false, true}) {
    Fused f = fuse(
        14,
        [&](B& b) {
          ir::Value* x = b.input("x", DType::kFloat32, {2, 3, 4});
          ir::Value* mm =
              b.op("MatMul", {x, b.fv({4, 6}, randv(24, 5))}, {}, info(DType::kFloat32, {2, 3, 6}));
          ir::Value* h = b.op("Add", {b.fv({6}, randv(6, 6)), mm});
          b.output(fast ? gelu_tanh(b, h) : gelu_erf(b, h, 0));
        },
        nullptr);
    EXPECT_EQ(count_op(*f.after, fast ? "FastGelu" : "BiasGelu"), 1) << f.after->dump();
    EXPECT_EQ(count_op(*f.after, "Add"), 0);
    EXPECT_EQ(f.stats.get("Gelu"), 0);
    if (!fast) {
      EXPECT_EQ(f.stats.get("BiasGelu"), 1);
    }
    for (const ir::Node* n : f.after->nodes())
      if (n->domain() == "com.microsoft") {
        EXPECT_EQ(n->inputs().size(), 2u);
      }
    expect_same_outputs(f);
  }
}

// ---- SkipLayerNormalization -----------------------------------------------------------------

TEST(SkipLayerNormFusion, ResidualAndBiasFoldIn) {
  Fused f = fuse(
      17,
      [&](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {2, 3, kH});
        ir::Value* r = b.input("r", DType::kFloat32, {2, 3, kH});
        ir::Value* mm = b.op("MatMul", {x, b.fv({kH, kH}, randv(kH * kH, 8))});
        ir::Value* dense = b.op("Add", {b.fv({kH}, randv(kH, 9)), mm});
        b.output(primitive_ln(b, b.op("Add", {dense, r}), {}));
      },
      nullptr);
  ASSERT_EQ(count_op(*f.after, "SkipLayerNormalization"), 1) << f.after->dump();
  EXPECT_EQ(count_op(*f.after, "Add"), 0);
  EXPECT_EQ(f.stats.get("SkipLayerNormalization"), 1);
  EXPECT_EQ(f.stats.get("LayerNormalization"), 0);
  for (const ir::Node* n : f.after->nodes())
    if (n->op_type() == "SkipLayerNormalization") {
      EXPECT_EQ(n->inputs().size(), 5u);
    }
  expect_same_outputs(f);
}

TEST(SkipLayerNormFusion, SumReadElsewhereBecomesOutput3) {
  Fused f = fuse(
      17,
      [&](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {2, 3, kH});
        ir::Value* r = b.input("r", DType::kFloat32, {2, 3, kH});
        ir::Value* sum = b.op("Add", {x, r});
        ir::Value* y = primitive_ln(b, sum, {});
        b.output(b.op("Add", {y, sum}));
      },
      nullptr);
  ASSERT_EQ(count_op(*f.after, "SkipLayerNormalization"), 1) << f.after->dump();
  for (const ir::Node* n : f.after->nodes())
    if (n->op_type() == "SkipLayerNormalization") {
      ASSERT_EQ(n->outputs().size(), 4u);
      EXPECT_EQ(n->output(1), nullptr);
      EXPECT_NE(n->output(3), nullptr);
    }
  expect_same_outputs(f);
}

TEST(SkipLayerNormFusion, WordLookupFusesPositionLookupDoesNot) {
  for (bool by_input : {true, false}) {
    Fused f = fuse(
        17,
        [&](B& b) {
          ir::Value* ids = b.input("ids", DType::kInt64, {2, 3});
          ir::Value* r = b.input("r", DType::kFloat32, {2, 3, kH});
          ir::Value* idx = by_input ? ids : b.op("Add", {ids, b.c(Tensor::scalar<int64_t>(0))});
          ir::Value* e = b.op("Gather", {b.fv({5, kH}, randv(5 * kH, 40)), idx}, {},
                              info(DType::kFloat32, {2, 3, kH}));
          b.output(primitive_ln(b, b.op("Add", {e, r}), {}));
        },
        nullptr);
    EXPECT_EQ(count_op(*f.after, "SkipLayerNormalization"), by_input ? 1 : 0) << f.after->dump();
  }
}

TEST(SkipLayerNormFusion, BroadcastAddIsLeftAlone) {
  Fused f = fuse(
      17,
      [&](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {2, 3, kH});
        ir::Value* p = b.input("p", DType::kFloat32, {1, 3, kH});
        b.output(primitive_ln(b, b.op("Add", {x, p}), {}));
      },
      nullptr);
  EXPECT_EQ(count_op(*f.after, "SkipLayerNormalization"), 0);
  EXPECT_EQ(count_op(*f.after, "LayerNormalization"), 1);
  expect_same_outputs(f);
}

TEST(SkipLayerNormFusion, RmsNormResidualBecomesSkipSimplified) {
  Fused f = fuse(
      14,
      [&](B& b) {
        ir::Value* x = b.input("x", DType::kFloat32, {2, 3, kH});
        ir::Value* r = b.input("r", DType::kFloat32, {2, 3, kH});
        ir::Value* sum = b.op("Add", {x, r});
        ir::Value* var =
            b.op("ReduceMean", {b.op("Pow", {sum, b.f(2.f)})}, {{"axes", ints_a({-1})}});
        ir::Value* s = b.op("Sqrt", {b.op("Add", {var, b.f(1e-6f)})});
        ir::Value* n = b.op("Mul", {sum, b.op("Div", {b.f(1.f), s})});
        ir::Value* y = b.op("Mul", {b.fv({kH}, randv(kH, 3)), n});
        b.output(b.op("Add", {y, sum}));
      },
      nullptr);
  EXPECT_EQ(count_op(*f.after, "SkipSimplifiedLayerNormalization"), 1) << f.after->dump();
  EXPECT_EQ(f.stats.get("SkipSimplifiedLayerNormalization"), 1);
  EXPECT_EQ(f.stats.get("SimplifiedLayerNormalization"), 0);
  expect_same_outputs(f);
}

// ---- EmbedLayerNormalization ----------------------------------------------------------------

void bert_embeddings(B& b, bool computed_positions) {
  const int64_t vocab = 11, maxpos = 16;
  ir::Value* ids = b.input("input_ids", DType::kInt64, {2, -1});
  ir::Value* seg = b.input("token_type_ids", DType::kInt64, {2, -1});
  ir::ValueInfo emb = info(DType::kFloat32, {2, -1, kH});
  ir::Value* w = b.op("Gather", {b.fv({vocab, kH}, randv(vocab * kH, 20)), ids}, {}, emb);
  ir::Value* t = b.op("Gather", {b.fv({2, kH}, randv(2 * kH, 21)), seg}, {}, emb);
  ir::Value* pos = nullptr;
  if (computed_positions) {  // RoBERTa-like: positions depend on the ids' values
    pos = b.op("Add", {ids, b.c(Tensor::scalar<int64_t>(1))});
  } else {
    std::vector<int64_t> ar(maxpos);
    for (int64_t i = 0; i < maxpos; ++i) ar[i] = i;
    ir::Value* shape = b.op("Shape", {ids}, {}, info(DType::kInt64, {2}));
    ir::Value* len = b.op("Gather", {shape, b.c(Tensor::scalar<int64_t>(1))}, {{"axis", int_a(0)}},
                          info(DType::kInt64, {}));
    ir::Value* end = b.op("Unsqueeze", {len, b.iv({0})}, {}, info(DType::kInt64, {1}));
    pos = b.op(
        "Slice",
        {b.c(Tensor::from_vector<int64_t>({1, maxpos}, ar)), b.iv({0}), end, b.iv({1}), b.iv({1})},
        {}, info(DType::kInt64, {1, -1}));
  }
  ir::Value* p = b.op("Gather", {b.fv({maxpos, kH}, randv(maxpos * kH, 22)), pos}, {},
                      info(DType::kFloat32, {1, -1, kH}));
  b.output(primitive_ln(b, b.op("Add", {b.op("Add", {w, t}), p}), {}));
}

TEST(EmbedLayerNormFusion, BertEmbeddingsWithStandardPositions) {
  Fused f = fuse(
      17, [&](B& b) { bert_embeddings(b, false); }, nullptr);
  EXPECT_EQ(count_op(*f.after, "EmbedLayerNormalization"), 1) << f.after->dump();
  EXPECT_EQ(count_op(*f.after, "Gather"), 0);
  EXPECT_EQ(f.stats.get("EmbedLayerNormalization"), 1);
  EXPECT_EQ(f.stats.get("LayerNormalization"), 0);
  expect_same_outputs(f);
}

TEST(EmbedLayerNormFusion, ComputedPositionsAreLeftAlone) {
  Fused f = fuse(
      17, [&](B& b) { bert_embeddings(b, true); }, nullptr);
  EXPECT_EQ(count_op(*f.after, "EmbedLayerNormalization"), 0);
  EXPECT_EQ(count_op(*f.after, "LayerNormalization"), 1);
}

// ---- Attention ------------------------------------------------------------------------------

struct AttnOpts {
  bool packed = false;  // one MatMul + Split
  int scale_on = 0;     // 0 scores (Div), 1 scores (Mul), 2 sqrt on q and k
  bool mask = true;     // padding mask from attention_mask
  int causal = 0;       // 1: transformers' causal condition kv <= q; 2: the reverse (not causal)
  bool sdpa = false;    // transformers' SDPA export: Where mask, IsNaN guard, Shape readers
};

constexpr int64_t kHeads = 2, kHead = 4, kHid = kHeads * kHead;

ir::Value* heads(B& b, ir::Value* v, std::vector<int64_t> perm) {
  ir::Value* r = b.op("Reshape", {v, b.iv({0, 0, kHeads, kHead})}, {},
                      info(DType::kFloat32, {2, -1, kHeads, kHead}));
  std::vector<int64_t> d{2, -1, kHeads, kHead};
  return b.op("Transpose", {r}, {{"perm", ints_a(perm)}},
              info(DType::kFloat32, {d[perm[0]], d[perm[1]], d[perm[2]], d[perm[3]]}));
}

void bert_attention(B& b, const AttnOpts& o) {
  ir::Value* x = b.input("x", DType::kFloat32, {2, -1, kHid});
  ir::Value* am = b.input("attention_mask", DType::kInt64, {2, -1});
  ir::ValueInfo h3 = info(DType::kFloat32, {2, -1, kHid});
  ir::Value *q, *k, *v;
  auto lin = [&](int64_t cols, uint32_t seed) {
    ir::Value* mm = b.op("MatMul", {x, b.fv({kHid, cols}, randv(kHid * cols, seed))}, {},
                         info(DType::kFloat32, {2, -1, cols}));
    return b.op("Add", {b.fv({cols}, randv(cols, seed + 100)), mm});
  };
  if (o.packed) {
    ir::Value* qkv = lin(3 * kHid, 30);
    std::vector<ir::Value*> outs;
    for (int i = 0; i < 3; ++i) outs.push_back(*b.g.add_value(b.name(), h3));
    ir::Node* sp = *b.g.add_node("Split", "", {qkv, b.iv({kHid, kHid, kHid})}, outs, "split");
    sp->set_attr("axis", int_a(2));
    q = outs[0];
    k = outs[1];
    v = outs[2];
  } else {
    q = lin(kHid, 31);
    k = lin(kHid, 32);
    v = lin(kHid, 33);
  }
  ir::Value* qh = heads(b, q, {0, 2, 1, 3});
  ir::Value* kh = heads(b, k, {0, 2, 3, 1});
  ir::Value* vh = heads(b, v, {0, 2, 1, 3});
  const float s = 1.f / std::sqrt(static_cast<float>(kHead));
  ir::Value* q_heads = qh;  // before the scale, where the SDPA export reads the sizes
  if (o.scale_on == 2) {
    qh = b.op("Mul", {qh, b.f(std::sqrt(s))});
    kh = b.op("Mul", {kh, b.f(std::sqrt(s))});
  }
  ir::ValueInfo sc = info(DType::kFloat32, {2, kHeads, -1, -1});
  ir::Value* scores = b.op("MatMul", {qh, kh}, {}, sc);
  if (o.scale_on == 0) scores = b.op("Div", {scores, b.f(std::sqrt(static_cast<float>(kHead)))});
  if (o.scale_on == 1) scores = b.op("Mul", {scores, b.f(s)});
  if (o.mask) {
    ir::Value* m = b.op("Unsqueeze", {am, b.iv({1})}, {}, info(DType::kInt64, {2, 1, -1}));
    m = b.op("Unsqueeze", {m, b.iv({2})}, {}, info(DType::kInt64, {2, 1, 1, -1}));
    m = b.op("Cast", {m}, {{"to", int_a(1)}}, info(DType::kFloat32, {2, 1, 1, -1}));
    if (o.sdpa) {  // Where(mask, 0, -inf)
      ir::Value* cond = b.op("Cast", {m}, {{"to", int_a(9)}}, info(DType::kBool, {2, 1, 1, -1}));
      m = b.op("Where", {cond, b.f(0.f), b.f(-INFINITY)}, {}, info(DType::kFloat32, {2, 1, 1, -1}));
      scores = b.op("Add", {scores, m}, {}, sc);
    }
    if (o.causal) {  // positions from Range(0, seq) unsqueezed along the key / query axes
      ir::Value* shape = b.op("Shape", {am}, {}, info(DType::kInt64, {2}));
      ir::Value* len = b.op("Gather", {shape, b.c(Tensor::scalar<int64_t>(1))},
                            {{"axis", int_a(0)}}, info(DType::kInt64, {}));
      ir::Value* r =
          b.op("Range", {b.c(Tensor::scalar<int64_t>(0)), len, b.c(Tensor::scalar<int64_t>(1))}, {},
               info(DType::kInt64, {-1}));
      ir::Value* kv =
          b.op("Unsqueeze", {r, b.iv({0, 1, 2})}, {}, info(DType::kInt64, {1, 1, 1, -1}));
      ir::Value* qp =
          b.op("Unsqueeze", {r, b.iv({0, 1, 3})}, {}, info(DType::kInt64, {1, 1, -1, 1}));
      ir::Value* le = b.op("LessOrEqual", {o.causal == 1 ? kv : qp, o.causal == 1 ? qp : kv}, {},
                           info(DType::kBool, {1, 1, -1, -1}));
      m = b.op("Mul",
               {m, b.op("Cast", {le}, {{"to", int_a(1)}}, info(DType::kFloat32, {1, 1, -1, -1}))},
               {}, info(DType::kFloat32, {2, 1, -1, -1}));
    }
    if (!o.sdpa) {
      m = b.op("Sub", {b.f(1.f), m});
      m = b.op("Mul", {m, b.f(-10000.f)});
      scores = b.op("Add", {scores, m}, {}, sc);
    }
  }
  ir::Value* p = b.op("Softmax", {scores}, {{"axis", int_a(-1)}});
  if (o.sdpa) {
    ir::Value* nan = b.op("IsNaN", {p}, {}, info(DType::kBool, {2, kHeads, -1, -1}));
    p = b.op("Where", {nan, b.f(0.f), p}, {}, sc);
  }
  ir::Value* ctxv = b.op("MatMul", {p, vh}, {}, info(DType::kFloat32, {2, kHeads, -1, kHead}));
  if (o.sdpa) {  // Reshape(p v, [B, -1, S, h]) with sizes read off the intermediate values
    auto dim = [&](ir::Value* of, int64_t i) {
      ir::Value* sh = b.op("Shape", {of}, {}, info(DType::kInt64, {4}));
      ir::Value* d = b.op("Gather", {sh, b.c(Tensor::scalar<int64_t>(i))}, {{"axis", int_a(0)}},
                          info(DType::kInt64, {}));
      return b.op("Unsqueeze", {d, b.iv({0})}, {}, info(DType::kInt64, {1}));
    };
    ir::Value* shape = b.op("Concat", {dim(ctxv, 0), b.iv({-1}), dim(q_heads, 2), dim(vh, 3)},
                            {{"axis", int_a(0)}}, info(DType::kInt64, {4}));
    ctxv = b.op("Reshape", {ctxv, shape}, {}, ctxv->info());
  }
  ir::Value* t = b.op("Transpose", {ctxv}, {{"perm", ints_a({0, 2, 1, 3})}},
                      info(DType::kFloat32, {2, -1, kHeads, kHead}));
  b.output(b.op("Reshape", {t, b.iv({0, 0, -1})}, {}, h3));
}

TEST(AttentionFusion, BertSelfAttentionInEachSpelling) {
  for (int variant = 0; variant < 6; ++variant) {
    AttnOpts o;
    o.packed = variant == 1;
    o.scale_on = variant == 2 ? 1 : (variant == 3 || variant == 5) ? 2 : 0;
    o.sdpa = variant == 5;
    o.mask = variant != 4;
    Fused f = fuse(
        14, [&](B& b) { bert_attention(b, o); }, make_attention_fusion());
    ASSERT_EQ(count_op(*f.after, "Attention"), 1) << "variant " << variant << "\n"
                                                  << f.after->dump();
    EXPECT_EQ(count_op(*f.after, "Softmax"), 0);
    EXPECT_EQ(count_op(*f.after, "MatMul"), 0);
    EXPECT_EQ(count_op(*f.after, "Shape"), 0);
    EXPECT_EQ(f.stats.get("Attention"), 1);
    for (const ir::Node* n : f.after->nodes()) {
      if (n->op_type() != "Attention") continue;
      EXPECT_EQ(n->domain(), "com.microsoft");
      EXPECT_EQ(n->attr("num_heads")->i, kHeads);
      EXPECT_EQ(n->attr("scale"), nullptr);  // the default 1/sqrt(head size)
      EXPECT_EQ(n->inputs().size(), o.mask ? 4u : 3u);
      EXPECT_EQ(n->input(1)->info().dims[1].value, 3 * kHid);
    }
    expect_same_outputs(f, 1e-5f);
  }
}

TEST(AttentionFusion, CausalMaskBecomesUnidirectional) {
  for (bool packed : {false, true}) {
    AttnOpts o;
    o.causal = 1;
    o.packed = packed;
    Fused f = fuse(
        14, [&](B& b) { bert_attention(b, o); }, make_attention_fusion());
    ASSERT_EQ(count_op(*f.after, "Attention"), 1) << f.after->dump();
    for (const ir::Node* n : f.after->nodes())
      if (n->op_type() == "Attention") {
        ASSERT_NE(n->attr("unidirectional"), nullptr);
        EXPECT_EQ(n->attr("unidirectional")->i, 1);
      }
    expect_same_outputs(f);
  }
}

TEST(AttentionFusion, OtherPositionComparisonsAreNotMatched) {
  AttnOpts o;
  o.causal = 2;  // query <= key: not a mask Attention can express
  Fused f = fuse(
      14, [&](B& b) { bert_attention(b, o); }, make_attention_fusion());
  EXPECT_EQ(count_op(*f.after, "Attention"), 0);
}

// GPT-2 with a KV cache (Optimum's decoder-with-past export): K and V are Concat(past, new) and
// the presents are graph outputs; the causal condition compares key positions Range(0, total)
// with query positions Range(0, seq) + past length. `offset`: false spells the query positions
// without the past length (not what unidirectional means with a past: must not fuse).
// `with_past` false: the cache starts empty and the presents are one-input Concats of the new
// heads (T5's first decoder step).
constexpr int64_t kPastLen = 4, kSeq = 3;

void gpt2_past_attention(B& b, bool causal, bool offset, bool packed, bool with_past = true) {
  const int64_t kPast = with_past ? kPastLen : 0;
  ir::Value* x = b.input("x", DType::kFloat32, {2, kSeq, kHid});
  ir::Value* am = b.input("attention_mask", DType::kInt64, {2, kPast + kSeq});
  ir::Value* pk =
      with_past ? b.input("past_key", DType::kFloat32, {2, kHeads, kPast, kHead}) : nullptr;
  ir::Value* pv =
      with_past ? b.input("past_value", DType::kFloat32, {2, kHeads, kPast, kHead}) : nullptr;
  ir::ValueInfo h3 = info(DType::kFloat32, {2, kSeq, kHid});
  auto lin = [&](int64_t cols, uint32_t seed) {
    ir::Value* mm = b.op("MatMul", {x, b.fv({kHid, cols}, randv(kHid * cols, seed))}, {},
                         info(DType::kFloat32, {2, kSeq, cols}));
    return b.op("Add", {mm, b.fv({cols}, randv(cols, seed + 100))});
  };
  ir::Value *q, *k, *v;
  if (packed) {
    ir::Value* qkv = lin(3 * kHid, 40);
    std::vector<ir::Value*> outs;
    for (int i = 0; i < 3; ++i) outs.push_back(*b.g.add_value(b.name(), h3));
    ir::Node* sp = *b.g.add_node("Split", "", {qkv, b.iv({kHid, kHid, kHid})}, outs, "split");
    sp->set_attr("axis", int_a(2));
    q = outs[0];
    k = outs[1];
    v = outs[2];
  } else {
    q = lin(kHid, 41);
    k = lin(kHid, 42);
    v = lin(kHid, 43);
  }
  ir::ValueInfo kv4 = info(DType::kFloat32, {2, kHeads, kPast + kSeq, kHead});
  ir::Value* qh = heads(b, q, {0, 2, 1, 3});
  auto cat = [&](ir::Value* past, ir::Value* fresh) {
    std::vector<ir::Value*> ins{fresh};
    if (past) ins.insert(ins.begin(), past);
    return b.op("Concat", ins, {{"axis", int_a(-2)}}, kv4);
  };
  ir::Value* kcat = cat(pk, heads(b, k, {0, 2, 1, 3}));
  ir::Value* vcat = cat(pv, heads(b, v, {0, 2, 1, 3}));
  ir::Value* kt = b.op("Transpose", {kcat}, {{"perm", ints_a({0, 1, 3, 2})}},
                       info(DType::kFloat32, {2, kHeads, kHead, kPast + kSeq}));
  ir::ValueInfo sc = info(DType::kFloat32, {2, kHeads, kSeq, kPast + kSeq});
  ir::Value* scores = b.op("MatMul", {qh, kt}, {}, sc);
  scores = b.op("Div", {scores, b.f(std::sqrt(static_cast<float>(kHead)))});
  // The key length read off the present, as T5 does for its position bias.
  b.output(b.op("Cast", {b.op("Shape", {kcat}, {}, info(DType::kInt64, {4}))}, {{"to", int_a(1)}},
                info(DType::kFloat32, {4})));
  ir::Value* m = b.op("Unsqueeze", {am, b.iv({1, 2})}, {}, info(DType::kInt64, {2, 1, 1, -1}));
  m = b.op("Cast", {m}, {{"to", int_a(1)}}, info(DType::kFloat32, {2, 1, 1, -1}));
  auto dim = [&](ir::Value* of, int64_t i) {
    ir::Value* sh = b.op("Shape", {of}, {},
                         info(DType::kInt64, {static_cast<int64_t>(of->info().dims.size())}));
    return b.op("Gather", {sh, b.c(Tensor::scalar<int64_t>(i))}, {{"axis", int_a(0)}},
                info(DType::kInt64, {}));
  };
  auto range = [&](ir::Value* n) {
    return b.op("Range", {b.c(Tensor::scalar<int64_t>(0)), n, b.c(Tensor::scalar<int64_t>(1))}, {},
                info(DType::kInt64, {-1}));
  };
  if (causal) {
    ir::Value* kpos = b.op("Unsqueeze", {range(dim(am, 1)), b.iv({0, 1, 2})}, {},
                           info(DType::kInt64, {1, 1, 1, -1}));
    ir::Value* qr = range(dim(x, 1));
    if (offset && pk) qr = b.op("Add", {qr, dim(pk, 2)}, {}, info(DType::kInt64, {-1}));
    ir::Value* qpos =
        b.op("Unsqueeze", {qr, b.iv({0, 1, 3})}, {}, info(DType::kInt64, {1, 1, -1, 1}));
    ir::Value* le = b.op("LessOrEqual", {kpos, qpos}, {}, info(DType::kBool, {1, 1, -1, -1}));
    m = b.op("Mul",
             {m, b.op("Cast", {le}, {{"to", int_a(1)}}, info(DType::kFloat32, {1, 1, -1, -1}))}, {},
             info(DType::kFloat32, {2, 1, -1, -1}));
  }
  m = b.op("Mul", {b.op("Sub", {b.f(1.f), m}), b.f(-10000.f)});
  scores = b.op("Add", {scores, m}, {}, sc);
  ir::Value* p = b.op("Softmax", {scores}, {{"axis", int_a(-1)}});
  ir::Value* ctxv = b.op("MatMul", {p, vcat}, {}, info(DType::kFloat32, {2, kHeads, kSeq, kHead}));
  ir::Value* t = b.op("Transpose", {ctxv}, {{"perm", ints_a({0, 2, 1, 3})}},
                      info(DType::kFloat32, {2, kSeq, kHeads, kHead}));
  b.output(b.op("Reshape", {t, b.iv({0, 0, -1})}, {}, h3));
  b.output(kcat);
  b.output(vcat);
}

TEST(AttentionFusion, KvCacheBecomesMultiHeadAttentionWithPast) {
  for (int variant = 0; variant < 3; ++variant) {
    const bool causal = variant != 2, packed = variant == 1;
    Fused f = fuse(
        14, [&](B& b) { gpt2_past_attention(b, causal, true, packed); }, make_attention_fusion());
    ASSERT_EQ(count_op(*f.after, "MultiHeadAttention"), 1) << "variant " << variant << "\n"
                                                           << f.after->dump();
    EXPECT_EQ(count_op(*f.after, "Softmax"), 0);
    EXPECT_EQ(count_op(*f.after, "Concat"), 0);
    // The present's Shape reader now reads Shape(past) + Shape(new key heads) along the
    // sequence axis: the new key heads' Transpose stays for it.
    EXPECT_EQ(count_op(*f.after, "Transpose"), 1);
    EXPECT_EQ(count_op(*f.after, "Shape"), 2);
    EXPECT_EQ(f.stats.get("MultiHeadAttention"), 1);
    for (const ir::Node* n : f.after->nodes()) {
      if (n->op_type() != "MultiHeadAttention") continue;
      EXPECT_EQ(n->domain(), "com.microsoft");
      EXPECT_EQ(n->attr("num_heads")->i, kHeads);
      EXPECT_EQ(n->attr("scale"), nullptr);
      ASSERT_EQ(n->inputs().size(), 8u);
      EXPECT_EQ(n->input(6)->name(), "past_key");
      EXPECT_EQ(n->input(7)->name(), "past_value");
      EXPECT_NE(n->input(4), nullptr);  // the 2-D mask as key_padding_mask
      // The presents keep their graph outputs.
      ASSERT_EQ(n->outputs().size(), 3u);
      EXPECT_TRUE(n->output(1)->is_graph_output());
      EXPECT_TRUE(n->output(2)->is_graph_output());
      if (causal) {
        ASSERT_NE(n->attr("unidirectional"), nullptr);
        EXPECT_EQ(n->attr("unidirectional")->i, 1);
      } else {
        EXPECT_EQ(n->attr("unidirectional"), nullptr);
      }
    }
    expect_same_outputs(f, 1e-5f);
  }
}

TEST(AttentionFusion, EmptyCachePresentsBecomeMultiHeadAttentionOutputs) {
  Fused f = fuse(
      14, [&](B& b) { gpt2_past_attention(b, true, false, false, false); },
      make_attention_fusion());
  ASSERT_EQ(count_op(*f.after, "MultiHeadAttention"), 1) << f.after->dump();
  EXPECT_EQ(count_op(*f.after, "Concat"), 0);
  for (const ir::Node* n : f.after->nodes()) {
    if (n->op_type() != "MultiHeadAttention") continue;
    ASSERT_EQ(n->inputs().size(), 5u);  // q, k, v, -, key_padding_mask: no past
    ASSERT_EQ(n->outputs().size(), 3u);
    EXPECT_TRUE(n->output(1)->is_graph_output());
    EXPECT_TRUE(n->output(2)->is_graph_output());
    EXPECT_EQ(n->attr("unidirectional")->i, 1);
  }
  expect_same_outputs(f, 1e-5f);
}

TEST(AttentionFusion, KvCacheWithUnshiftedCausalMaskIsNotMatched) {
  // kv <= q with q from 0 while keys hold the past first: not unidirectional with a past.
  Fused f = fuse(
      14, [&](B& b) { gpt2_past_attention(b, true, false, true); }, make_attention_fusion());
  EXPECT_EQ(count_op(*f.after, "MultiHeadAttention"), 0);
  EXPECT_EQ(count_op(*f.after, "Softmax"), 1);
}

// T5 attention: projections without bias, no scaling (Mul by 1 on q and k), and a relative
// position bias Gather(table, buckets) -> [1, N, S, T] added to the scores. `cross`: K and V
// project another sequence (the encoder output) of length 5; `cached`: K and V are the cached
// encoder keys / values [B, N, 5, h] themselves (T5's decoder with past).
void t5_attention(B& b, bool cross, bool cached = false) {
  constexpr int64_t kS = 3, kT = 5;
  const int64_t t = cross ? kT : kS;
  ir::Value* x = b.input("x", DType::kFloat32, {2, kS, kHid});
  ir::Value* src = cross ? b.input("enc", DType::kFloat32, {2, kT, kHid}) : x;
  ir::Value* buckets = b.input("buckets", DType::kInt64, {kS, t});
  auto proj = [&](ir::Value* in, int64_t len, uint32_t seed) {
    return b.op("MatMul", {in, b.fv({kHid, kHid}, randv(kHid * kHid, seed))}, {},
                info(DType::kFloat32, {2, len, kHid}));
  };
  ir::Value* qh = b.op("Mul", {heads(b, proj(x, kS, 51), {0, 2, 1, 3}), b.f(1.f)});
  ir::Value *kh, *vh;
  if (cached) {
    ir::Value* kc = b.input("enc_key", DType::kFloat32, {2, kHeads, kT, kHead});
    vh = b.input("enc_value", DType::kFloat32, {2, kHeads, kT, kHead});
    kh = b.op("Transpose", {kc}, {{"perm", ints_a({0, 1, 3, 2})}},
              info(DType::kFloat32, {2, kHeads, kHead, kT}));
    kh = b.op("Mul", {kh, b.f(1.f)});
  } else {
    kh = b.op("Mul", {heads(b, proj(src, t, 52), {0, 2, 3, 1}), b.f(1.f)});
    vh = heads(b, proj(src, t, 53), {0, 2, 1, 3});
  }
  ir::Value* pb = b.op("Gather", {b.fv({8, kHeads}, randv(8 * kHeads, 54)), buckets}, {},
                       info(DType::kFloat32, {kS, t, kHeads}));
  pb = b.op("Transpose", {pb}, {{"perm", ints_a({2, 0, 1})}},
            info(DType::kFloat32, {kHeads, kS, t}));
  pb = b.op("Unsqueeze", {pb, b.iv({0})}, {}, info(DType::kFloat32, {1, kHeads, kS, t}));
  ir::ValueInfo sc = info(DType::kFloat32, {2, kHeads, kS, t});
  ir::Value* scores = b.op("Add", {b.op("MatMul", {qh, kh}, {}, sc), pb}, {}, sc);
  ir::Value* p = b.op("Softmax", {scores}, {{"axis", int_a(-1)}});
  ir::Value* ctxv = b.op("MatMul", {p, vh}, {}, info(DType::kFloat32, {2, kHeads, kS, kHead}));
  ir::Value* tr = b.op("Transpose", {ctxv}, {{"perm", ints_a({0, 2, 1, 3})}},
                       info(DType::kFloat32, {2, kS, kHeads, kHead}));
  b.output(b.op("Reshape", {tr, b.iv({0, 0, -1})}, {}, info(DType::kFloat32, {2, kS, kHid})));
}

TEST(AttentionFusion, T5PositionBiasBecomesAttentionBias) {
  for (int variant = 0; variant < 3; ++variant) {
    const bool cross = variant > 0, cached = variant == 2;
    Fused f = fuse(
        17, [&](B& b) { t5_attention(b, cross, cached); }, make_attention_fusion());
    ASSERT_EQ(count_op(*f.after, "MultiHeadAttention"), 1) << "variant " << variant << "\n"
                                                           << f.after->dump();
    EXPECT_EQ(count_op(*f.after, "Softmax"), 0);
    EXPECT_EQ(count_op(*f.after, "Attention"), 0);
    for (const ir::Node* n : f.after->nodes()) {
      if (n->op_type() != "MultiHeadAttention") continue;
      ASSERT_EQ(n->inputs().size(), 6u);  // q, k, v, -, -, attention_bias
      EXPECT_EQ(n->input(3), nullptr);
      EXPECT_EQ(n->input(4), nullptr);
      ASSERT_NE(n->input(5), nullptr);
      EXPECT_EQ(n->input(5)->producer()->op_type(), "Unsqueeze");
      ASSERT_NE(n->attr("scale"), nullptr);  // T5 does not scale the scores
      EXPECT_EQ(n->attr("scale")->f, 1.f);
      if (cached) {
        EXPECT_EQ(n->input(1)->name(), "enc_key");
        EXPECT_EQ(n->input(2)->name(), "enc_value");
      } else {
        EXPECT_EQ(n->input(1)->producer()->input(0)->name(), cross ? "enc" : "x");
      }
    }
    expect_same_outputs(f, 1e-5f);
  }
}

// Nodes with omitted inputs and odd arities where the patterns look: every fusion pass must
// leave them alone without crashing.
TEST(ExtendedPasses, MalformedNeighbourhoodsAreLeftAlone) {
  auto build = [](B& b) {
    ir::Value* x = b.input("x", DType::kFloat32, {2, 3, kH});
    ir::ValueInfo f3 = info(DType::kFloat32, {2, 3, kH});
    b.output(b.op("ReduceMean", {nullptr}, {{"axes", ints_a({-1})}}, f3));
    b.output(b.op("ReduceMean", {b.op("Pow", {nullptr, b.f(2.f)}, {}, f3)}, {}, f3));
    b.output(b.op("Erf", {nullptr}, {}, f3));
    b.output(b.op("Tanh", {b.op("Mul", {nullptr, b.f(0.7978845608f)}, {}, f3)}));
    b.output(b.op("Softmax", {nullptr}, {}, f3));
    b.output(b.op("Softmax", {b.op("Add", {b.op("MatMul", {nullptr, x}), nullptr}, {}, f3)}));
    ir::Value* g = b.op("Gather", {b.fv({4, kH}, randv(4 * kH, 1)), nullptr}, {}, f3);
    ir::Value* ln = b.op("LayerNormalization", {b.op("Add", {g, x})}, {}, f3);
    b.output(ln);
    b.output(b.op("LayerNormalization", {nullptr, nullptr}, {}, f3));
    // A Sub of the mean that is not x - mean.
    ir::Value* m = b.op("ReduceMean", {x}, {{"axes", ints_a({-1})}});
    b.output(b.op("Sub", {m, x}));
  };
  using Factory = std::unique_ptr<Pass> (*)();
  for (Factory make :
       {&make_layer_norm_fusion, &make_gelu_fusion, &make_bias_gelu_fusion,
        &make_skip_layer_norm_fusion, &make_embed_layer_norm_fusion, &make_attention_fusion}) {
    ir::Graph g;
    B b(g, 17);
    build(b);
    const size_t before = g.num_nodes();
    PassContext ctx;
    auto changed = make()->run(g, ctx);
    ASSERT_TRUE(changed.has_value()) << changed.status().message();
    EXPECT_FALSE(*changed);
    EXPECT_EQ(g.num_nodes(), before);
    EXPECT_TRUE(ctx.stats.counts.empty());
  }
}

TEST(ExtendedPasses, LevelTwoRunsTheFusionsAndLevelOneDoesNot) {
  auto build = [](B& b) {
    ir::Value* x = b.input("x", DType::kFloat32, {2, 5});
    b.output(gelu_erf(b, x, 0));
  };
  Fused f = fuse(14, build, nullptr);
  EXPECT_EQ(count_op(*f.after, "Gelu"), 1);
  ir::Graph g;
  B b(g, 14);
  build(b);
  PassContext ctx;
  ctx.level = 1;
  ASSERT_TRUE(optimize(g, ctx).is_ok());
  EXPECT_EQ(count_op(g, "Gelu"), 0);
}

}  // namespace
}  // namespace kiln::passes
