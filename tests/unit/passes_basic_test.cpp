// Level-1 graph passes (graph/passes/basic_passes.h): for each pass, the IR before and after on
// small graphs, and the same outputs before and after on random inputs (cpu::Executor). Also the
// whole level-1 pipeline on the bundled example encoder.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "graph/onnx/importer.h"
#include "graph/passes/basic_passes.h"
#include "graph/passes/util.h"
#include "runtime/io/tensor_io.h"
#include "test_util.h"

namespace kiln::passes {
namespace {

using kiln::testing::f32;
using kiln::testing::i64v;
using kiln::testing::int_attr;
using kiln::testing::ints_attr;
using kiln::testing::tensor_attr;

using Builder = std::function<void(ir::Graph&)>;

ir::ValueInfo info(DType dt, std::vector<ir::Dim> dims) {
  return ir::ValueInfo{dt, true, std::move(dims)};
}
ir::ValueInfo f32info(std::vector<int64_t> dims) {
  std::vector<ir::Dim> d;
  for (int64_t x : dims) d.push_back(ir::Dim{x, ""});
  return info(DType::kFloat32, d);
}

ir::Value* input(ir::Graph& g, const std::string& name, ir::ValueInfo i) {
  ir::Value* v = *g.add_value(name, std::move(i));
  g.add_input(v);
  return v;
}
ir::Value* value(ir::Graph& g, const std::string& name, ir::ValueInfo i = {}) {
  return *g.add_value(name, std::move(i));
}
ir::Node* node(ir::Graph& g, const std::string& op, std::vector<ir::Value*> ins,
               std::vector<ir::Value*> outs, kiln::testing::AttrMap attrs = {}) {
  ir::Node* n = *g.add_node(op, "", ins, outs);
  for (auto& [k, a] : attrs) n->set_attr(k, a);
  return n;
}

// Random feeds for the graph inputs; symbolic dims are 3.
std::map<std::string, Tensor> random_feeds(const ir::Graph& g, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::map<std::string, Tensor> feeds;
  for (ir::Value* v : g.inputs()) {
    Shape s;
    for (const ir::Dim& d : v->info().dims) s.push_back(d.known() ? d.value : 3);
    Tensor t = *Tensor::create(v->info().dtype, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.set_from_double(i, u(rng));
    feeds[v->name()] = t;
  }
  return feeds;
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

struct Result {
  std::unique_ptr<ir::Graph> g;
  PassStats stats;
  bool changed = false;
};

// Builds the graph twice, runs `pass` on one copy, checks it verifies, keeps the graph outputs'
// names and infos, and gives the same outputs as the original on random inputs.
Result check_pass(const Builder& build, std::unique_ptr<Pass> pass, double tol = 0) {
  ir::Graph before;
  build(before);
  EXPECT_TRUE(before.verify().is_ok()) << before.dump();
  Result r;
  r.g = std::make_unique<ir::Graph>();
  build(*r.g);
  PassContext ctx;
  auto changed = pass->run(*r.g, ctx);
  EXPECT_TRUE(changed.has_value()) << changed.status().to_string();
  r.changed = changed.has_value() && *changed;
  r.stats = ctx.stats;
  Status st = r.g->verify();
  EXPECT_TRUE(st.is_ok()) << st.to_string() << "\n" << r.g->dump();
  EXPECT_EQ(before.outputs().size(), r.g->outputs().size());
  for (size_t i = 0; i < before.outputs().size() && i < r.g->outputs().size(); ++i) {
    EXPECT_EQ(before.outputs()[i]->name(), r.g->outputs()[i]->name());
    EXPECT_EQ(before.outputs()[i]->info().to_string(), r.g->outputs()[i]->info().to_string());
  }
  auto feeds = random_feeds(before);
  if (st.is_ok()) expect_close(run(before, feeds), run(*r.g, feeds), tol);
  return r;
}

std::vector<std::string> ops(const ir::Graph& g) {
  std::vector<std::string> out;
  for (ir::Node* n : g.nodes()) out.push_back(n->op_type());
  return out;
}
using Ops = std::vector<std::string>;

// --- constant folding --------------------------------------------------------------------------

TEST(ConstantFolding, FoldsChainsAndConstantNodes) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "x", f32info({2, 3}));
    ir::Value* a = *g.add_initializer("a", f32({3}, {1, 2, 3}));
    ir::Value* c = value(g, "c");
    node(g, "Constant", {}, {c}, {{"value", tensor_attr(f32({3}, {10, 20, 30}))}});
    ir::Value* s = value(g, "s");
    node(g, "Add", {a, c}, {s});
    ir::Value* e = value(g, "e");
    node(g, "Neg", {s}, {e});
    ir::Value* y = value(g, "y", f32info({2, 3}));
    node(g, "Mul", {x, e}, {y});
    g.add_output(y);
  };
  Result r = check_pass(build, make_constant_folding());
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(ops(*r.g), Ops{"Mul"});
  EXPECT_EQ(r.stats.get("constant_folded"), 2);
  EXPECT_EQ(r.stats.get("constant_to_initializer"), 1);
  ir::Value* e = r.g->find_value("e");
  ASSERT_TRUE(e->is_initializer());
  EXPECT_EQ(kiln::testing::values(e->initializer()), (std::vector<double>{-11, -22, -33}));
  // The inputs folded away no longer hold their constants.
  EXPECT_FALSE(r.g->find_value("a")->is_initializer());
  EXPECT_EQ(r.g->initializers().size(), 1u);
}

TEST(ConstantFolding, KeepsRandomOversizedFailingAndGraphOutputNodes) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "x", f32info({4}));
    // Non-deterministic.
    ir::Value* r = value(g, "r");
    node(g, "RandomUniform", {}, {r},
         {{"shape", ints_attr({4})},
          {"low", kiln::testing::float_attr(5)},
          {"high", kiln::testing::float_attr(5)}});
    // 16 MiB + : ConstantOfShape [2048, 2049] float.
    ir::Value* shape = *g.add_initializer("shape", i64v({2048, 2049}));
    ir::Value* big = value(g, "big");
    node(g, "ConstantOfShape", {shape}, {big});
    ir::Value* bs = value(g, "bs");
    node(g, "ReduceSum", {big}, {bs}, {{"keepdims", int_attr(0)}});
    // A Reshape whose kernel fails (6 elements to [4]): stays, it fails at run time only if run.
    ir::Value* six = *g.add_initializer("six", f32({6}, {1, 2, 3, 4, 5, 6}));
    ir::Value* bad_shape = *g.add_initializer("bad_shape", i64v({4}));
    ir::Value* bad = value(g, "bad");
    node(g, "Reshape", {six, bad_shape}, {bad});
    // A constant graph output.
    ir::Value* k = *g.add_initializer("k", f32({4}, {1, 1, 1, 1}));
    ir::Value* k2 = value(g, "k2", f32info({4}));
    node(g, "Neg", {k}, {k2});
    ir::Value* t = value(g, "t", f32info({4}));
    node(g, "Add", {x, r}, {t});
    ir::Value* y = value(g, "y", f32info({4}));
    node(g, "Add", {t, bs}, {y});
    g.add_output(y);
    g.add_output(k2);
    (void)bad;
  };
  ir::Graph g;
  build(g);
  PassContext ctx;
  auto changed = make_constant_folding()->run(g, ctx);
  ASSERT_TRUE(changed.has_value()) << changed.status().to_string();
  EXPECT_FALSE(*changed) << g.dump();
  EXPECT_EQ(g.num_nodes(), 7u);
  EXPECT_TRUE(g.verify().is_ok());

  // With a smaller cap the output of a small Expand is not folded either.
  auto build2 = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "x", f32info({8, 64}));
    ir::Value* one = *g.add_initializer("one", f32({1}, {2}));
    ir::Value* shp = *g.add_initializer("shp", i64v({8, 64}));
    ir::Value* e = value(g, "e");
    node(g, "Expand", {one, shp}, {e});
    ir::Value* y = value(g, "y", f32info({8, 64}));
    node(g, "Mul", {x, e}, {y});
    g.add_output(y);
  };
  Result small = check_pass(build2, make_constant_folding(1024));
  EXPECT_FALSE(small.changed);
  Result large = check_pass(build2, make_constant_folding());
  EXPECT_TRUE(large.changed);
  EXPECT_EQ(ops(*large.g), Ops{"Mul"});
}

// --- identity / dropout ------------------------------------------------------------------------

TEST(IdentityElimination, RemovesAndKeepsOutputNames) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "x", f32info({2, 2}));
    ir::Value* a = value(g, "a", f32info({2, 2}));
    node(g, "Relu", {x}, {a});
    ir::Value* b = value(g, "b", f32info({2, 2}));
    node(g, "Identity", {a}, {b});
    ir::Value* c = value(g, "c", f32info({2, 2}));
    node(g, "Neg", {b}, {c});
    ir::Value* y = value(g, "y", f32info({2, 2}));  // graph output through an Identity
    node(g, "Identity", {c}, {y});
    ir::Value* z = value(g, "z", f32info({2, 2}));  // reads the value the Identity renames
    node(g, "Exp", {c}, {z});
    ir::Value* w = value(g, "w", f32info({2, 2}));  // graph input -> graph output: kept
    node(g, "Identity", {x}, {w});
    g.add_output(y);
    g.add_output(z);
    g.add_output(w);
  };
  Result r = check_pass(build, make_identity_elimination());
  EXPECT_EQ(ops(*r.g), (Ops{"Relu", "Identity", "Neg", "Exp"}));
  EXPECT_EQ(r.stats.get("identity_removed"), 2);
  // Neg now produces the graph output y directly.
  EXPECT_EQ(r.g->find_value("y")->producer()->op_type(), "Neg");
  EXPECT_EQ(r.g->find_value("z")->producer()->input(0)->name(), "y");
}

TEST(DropoutElimination, InferenceOnly) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 13;
    ir::Value* x = input(g, "x", f32info({4}));
    ir::Value* a = value(g, "a", f32info({4}));
    node(g, "Dropout", {x}, {a});  // removed
    ir::Value* b = value(g, "b", f32info({4}));
    ir::Value* mask = value(g, "mask");
    ir::Value* ratio = *g.add_initializer("ratio", Tensor::scalar<float>(0.5f));
    Tensor on = *Tensor::create(DType::kBool, {});
    on.data<bool>()[0] = false;
    ir::Value* training = *g.add_initializer("training", on);
    node(g, "Dropout", {a, ratio, training}, {b, mask});  // mask unused, training false: removed
    ir::Value* c = value(g, "c", f32info({4}));
    ir::Value* mask2 = value(g, "mask2");
    node(g, "Dropout", {b}, {c, mask2});  // mask is a graph output: kept
    g.add_output(c);
    g.add_output(mask2);
  };
  Result r = check_pass(build, make_dropout_elimination());
  EXPECT_EQ(ops(*r.g), Ops{"Dropout"});
  EXPECT_EQ(r.stats.get("dropout_removed"), 2);
  EXPECT_EQ(r.g->nodes()[0]->input(0)->name(), "x");
}

// --- shape folding -----------------------------------------------------------------------------

TEST(ShapeFolding, KnownDimsBecomeConstants) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "x", info(DType::kFloat32, {{-1, "batch"}, {4, ""}, {6, ""}}));
    ir::Value* s = value(g, "s", info(DType::kInt64, {{3, ""}}));
    node(g, "Shape", {x}, {s});
    // Gather(s, 2) = 6 and Slice(s, 1:3) = [4, 6] are known; Gather(s, 0) = batch is not.
    ir::Value* i2 = *g.add_initializer("i2", Tensor::scalar<int64_t>(2));
    ir::Value* d2 = value(g, "d2");
    node(g, "Gather", {s, i2}, {d2}, {{"axis", int_attr(0)}});
    ir::Value* i0 = *g.add_initializer("i0", Tensor::scalar<int64_t>(0));
    ir::Value* d0 = value(g, "d0");
    node(g, "Gather", {s, i0}, {d0}, {{"axis", int_attr(0)}});
    ir::Value* st = *g.add_initializer("st", i64v({1}));
    ir::Value* en = *g.add_initializer("en", i64v({3}));
    ir::Value* tail = value(g, "tail");
    node(g, "Slice", {s, st, en}, {tail});
    // Size of a known-shape value.
    ir::Value* w = *g.add_initializer("w", f32({2, 3}, {1, 2, 3, 4, 5, 6}));
    ir::Value* sz = value(g, "sz");
    node(g, "Size", {w}, {sz});
    // out = Reshape(x, [d0, d2 * 4]) + Cast(sum(tail) + sz)
    ir::Value* ax = *g.add_initializer("ax", i64v({0}));
    ir::Value* d0u = value(g, "d0u");
    node(g, "Unsqueeze", {d0, ax}, {d0u});
    ir::Value* four = *g.add_initializer("four", Tensor::scalar<int64_t>(4));
    ir::Value* d24 = value(g, "d24");
    node(g, "Mul", {d2, four}, {d24});
    ir::Value* d24u = value(g, "d24u");
    node(g, "Unsqueeze", {d24, ax}, {d24u});
    ir::Value* shp = value(g, "shp");
    node(g, "Concat", {d0u, d24u}, {shp}, {{"axis", int_attr(0)}});
    ir::Value* r = value(g, "r");
    node(g, "Reshape", {x, shp}, {r});
    ir::Value* ts = value(g, "ts");
    node(g, "ReduceSum", {tail}, {ts}, {{"keepdims", int_attr(0)}});
    ir::Value* t2 = value(g, "t2");
    node(g, "Add", {ts, sz}, {t2});
    ir::Value* tf = value(g, "tf");
    node(g, "Cast", {t2}, {tf}, {{"to", int_attr(1)}});
    ir::Value* y = value(g, "y", info(DType::kFloat32, {{-1, "batch"}, {24, ""}}));
    node(g, "Add", {r, tf}, {y});
    g.add_output(y);
  };
  Result r = check_pass(build, make_shape_folding());
  EXPECT_EQ(r.stats.get("shape_folded"), 3);
  EXPECT_TRUE(r.g->find_value("d2")->is_initializer());
  EXPECT_TRUE(r.g->find_value("tail")->is_initializer());
  EXPECT_FALSE(r.g->find_value("d0")->is_initializer());
  EXPECT_TRUE(r.g->find_value("sz")->is_initializer());
  // Constant folding then finishes the chains: only the batch dim stays computed.
  PassContext ctx;
  ASSERT_TRUE(make_constant_folding()->run(*r.g, ctx).has_value());
  EXPECT_TRUE(r.g->verify().is_ok());
  EXPECT_EQ(ops(*r.g), (Ops{"Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "Add"}));

  // Fully known shape: the Shape node itself goes.
  auto build2 = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "x", f32info({2, 3}));
    ir::Value* s = value(g, "s", info(DType::kInt64, {{1, ""}}));
    node(g, "Shape", {x}, {s}, {{"start", int_attr(-1)}});
    ir::Value* sf = value(g, "sf", info(DType::kFloat32, {{1, ""}}));
    node(g, "Cast", {s}, {sf}, {{"to", int_attr(1)}});
    ir::Value* y = value(g, "y", f32info({2, 3}));
    node(g, "Mul", {x, sf}, {y});
    g.add_output(y);
  };
  Result r2 = check_pass(build2, make_shape_folding());
  EXPECT_EQ(ops(*r2.g), (Ops{"Cast", "Mul"}));
  EXPECT_EQ(kiln::testing::values(r2.g->find_value("s")->initializer()), std::vector<double>{3});
}

// --- redundant pairs ---------------------------------------------------------------------------

TEST(RedundantPairs, Casts) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "x", f32info({5}));
    ir::Value* a = value(g, "a", f32info({5}));
    node(g, "Cast", {x}, {a}, {{"to", int_attr(1)}});  // same type: removed
    ir::Value* b = value(g, "b", info(DType::kFloat64, {{5, ""}}));
    node(g, "Cast", {a}, {b}, {{"to", int_attr(11)}});  // f32 -> f64 lossless
    ir::Value* c = value(g, "c", info(DType::kInt32, {{5, ""}}));
    node(g, "Cast", {b}, {c}, {{"to", int_attr(6)}});  // -> Cast(f32 -> i32)
    ir::Value* d = value(g, "d", f32info({5}));
    node(g, "Cast", {c}, {d}, {{"to", int_attr(1)}});  // i32 -> f32 after a lossy cast: kept
    ir::Value* e = value(g, "e", info(DType::kFloat64, {{5, ""}}));
    node(g, "Cast", {x}, {e}, {{"to", int_attr(11)}});
    ir::Value* y = value(g, "y", f32info({5}));
    node(g, "Cast", {e}, {y}, {{"to", int_attr(1)}});  // f32 -> f64 -> f32: nothing, but y
    g.add_output(d);                                   // is a graph output fed by a graph input
    g.add_output(y);
  };
  Result r = check_pass(build, make_redundant_pair_elimination());
  EXPECT_EQ(ops(*r.g), (Ops{"Cast", "Cast", "Cast"})) << r.g->dump();
  EXPECT_EQ(r.g->find_value("c")->producer()->input(0)->name(), "x");
  EXPECT_EQ(r.g->find_value("y")->producer()->input(0)->name(), "x");
  EXPECT_GE(r.stats.get("cast_removed"), 1);
  EXPECT_GE(r.stats.get("cast_merged"), 1);
}

TEST(RedundantPairs, ReshapeTransposeSqueeze) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "x", f32info({2, 3, 4}));
    // Reshape -> Reshape.
    ir::Value* s1 = *g.add_initializer("s1", i64v({6, 4}));
    ir::Value* s2 = *g.add_initializer("s2", i64v({4, -1}));
    ir::Value* r1 = value(g, "r1", f32info({6, 4}));
    node(g, "Reshape", {x, s1}, {r1});
    ir::Value* r2 = value(g, "r2", f32info({4, 6}));
    node(g, "Reshape", {r1, s2}, {r2});
    // Transpose pairs: identity, and a merge into one perm.
    ir::Value* t1 = value(g, "t1", f32info({3, 4, 2}));
    node(g, "Transpose", {x}, {t1}, {{"perm", ints_attr({1, 2, 0})}});
    ir::Value* t2 = value(g, "t2", f32info({2, 3, 4}));
    node(g, "Transpose", {t1}, {t2}, {{"perm", ints_attr({2, 0, 1})}});
    ir::Value* t3 = value(g, "t3", f32info({4, 3, 2}));
    node(g, "Transpose", {t1}, {t3}, {{"perm", ints_attr({1, 0, 2})}});
    // Unsqueeze -> Squeeze.
    ir::Value* ax = *g.add_initializer("ax", i64v({-1}));
    ir::Value* u = value(g, "u", f32info({2, 3, 4, 1}));
    node(g, "Unsqueeze", {t2, ax}, {u});
    ir::Value* q = value(g, "q", f32info({2, 3, 4}));
    node(g, "Squeeze", {u, ax}, {q});
    ir::Value* y = value(g, "y", f32info({2, 3, 4}));
    node(g, "Neg", {q}, {y});
    g.add_output(r2);
    g.add_output(y);
    g.add_output(t3);
  };
  Result r = check_pass(build, make_redundant_pair_elimination());
  EXPECT_EQ(ops(*r.g), (Ops{"Reshape", "Transpose", "Neg"})) << r.g->dump();
  EXPECT_EQ(r.stats.get("reshape_merged"), 1);
  EXPECT_EQ(r.stats.get("transpose_merged"), 1);
  EXPECT_EQ(r.stats.get("squeeze_removed"), 1);
  ir::Node* t = r.g->find_value("t3")->producer();
  EXPECT_EQ(t->input(0)->name(), "x");
  EXPECT_EQ(t->attr("perm")->ints, (std::vector<int64_t>{2, 1, 0}));
  EXPECT_EQ(r.g->find_value("y")->producer()->input(0)->name(), "x");
}

TEST(RedundantPairs, ReshapeWithZeroIsKept) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "x", f32info({2, 3, 4}));
    ir::Value* s1 = *g.add_initializer("s1", i64v({6, 4}));
    ir::Value* s2 = *g.add_initializer("s2", i64v({0, 2, 2}));
    ir::Value* r1 = value(g, "r1", f32info({6, 4}));
    node(g, "Reshape", {x, s1}, {r1});
    ir::Value* r2 = value(g, "r2", f32info({6, 2, 2}));
    node(g, "Reshape", {r1, s2}, {r2});
    g.add_output(r2);
  };
  Result r = check_pass(build, make_redundant_pair_elimination());
  EXPECT_FALSE(r.changed);
}

TEST(RedundantPairs, SqueezePairsWithAxesAttributes) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 11;
    ir::Value* x = input(g, "x", info(DType::kFloat32, {{-1, "n"}, {1, ""}, {3, ""}}));
    // Squeeze(1) -> Unsqueeze(1): the squeezed dim is known to be 1, both go.
    ir::Value* s = value(g, "s");
    node(g, "Squeeze", {x}, {s}, {{"axes", ints_attr({1})}});
    ir::Value* u = value(g, "u");
    node(g, "Unsqueeze", {s}, {u}, {{"axes", ints_attr({-2})}});
    ir::Value* a = value(g, "a", info(DType::kFloat32, {{-1, "n"}, {1, ""}, {3, ""}}));
    node(g, "Relu", {u}, {a});
    // Unsqueeze(0) -> Squeeze(0, 1): different axes, kept.
    ir::Value* u2 = value(g, "u2");
    node(g, "Unsqueeze", {a}, {u2}, {{"axes", ints_attr({0})}});
    ir::Value* y = value(g, "y", info(DType::kFloat32, {{-1, "n"}, {3, ""}}));
    node(g, "Squeeze", {u2}, {y}, {{"axes", ints_attr({0, 2})}});
    g.add_output(y);
  };
  Result r = check_pass(build, make_redundant_pair_elimination());
  EXPECT_EQ(ops(*r.g), (Ops{"Relu", "Unsqueeze", "Squeeze"})) << r.g->dump();
  EXPECT_EQ(r.stats.get("squeeze_removed"), 1);

  // An unknown dim may not be 1: Squeeze -> Unsqueeze stays.
  auto build2 = [](ir::Graph& g) {
    g.opsets()[""] = 11;
    ir::Value* x = input(g, "x", info(DType::kFloat32, {{-1, "n"}, {-1, "m"}}));
    ir::Value* s = value(g, "s");
    node(g, "Squeeze", {x}, {s}, {{"axes", ints_attr({1})}});
    ir::Value* y = value(g, "y");
    node(g, "Unsqueeze", {s}, {y}, {{"axes", ints_attr({1})}});
    g.add_output(y);
  };
  ir::Graph g2;
  build2(g2);
  PassContext ctx;
  auto changed = make_redundant_pair_elimination()->run(g2, ctx);
  ASSERT_TRUE(changed.has_value());
  EXPECT_FALSE(*changed);
}

TEST(DropoutElimination, OldOpsetNeedsIsTest) {
  ir::Graph g;
  g.opsets()[""] = 6;
  ir::Value* x = input(g, "x", f32info({4}));
  ir::Value* a = value(g, "a", f32info({4}));
  node(g, "Dropout", {x}, {a}, {{"is_test", int_attr(1)}});
  ir::Value* y = value(g, "y", f32info({4}));
  node(g, "Dropout", {a}, {y});  // is_test = 0: training mode, kept
  g.add_output(y);
  PassContext ctx;
  auto changed = make_dropout_elimination()->run(g, ctx);
  ASSERT_TRUE(changed.has_value());
  EXPECT_TRUE(g.verify().is_ok());
  EXPECT_EQ(ops(g), Ops{"Dropout"});
  EXPECT_EQ(g.nodes()[0]->input(0)->name(), "x");
}

TEST(ConstantFolding, DequantizeLinearStays) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 13;
    ir::Value* x = input(g, "x", f32info({4}));
    Tensor q = *Tensor::create(DType::kInt8, {4});
    for (int i = 0; i < 4; ++i) q.data<int8_t>()[i] = static_cast<int8_t>(i * 10 - 15);
    ir::Value* wq = *g.add_initializer("wq", q);
    ir::Value* sc = *g.add_initializer("sc", Tensor::scalar<float>(0.5f));
    ir::Value* w = value(g, "w", f32info({4}));
    node(g, "DequantizeLinear", {wq, sc}, {w});
    ir::Value* y = value(g, "y", f32info({4}));
    node(g, "Mul", {x, w}, {y});
    g.add_output(y);
  };
  Result r = check_pass(build, make_constant_folding());
  EXPECT_FALSE(r.changed);
}

// --- MatMul + Add -> Gemm ----------------------------------------------------------------------

TEST(MatMulAddFusion, TwoDimensionalOnly) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "x", f32info({3, 4}));
    ir::Value* x3 = input(g, "x3", f32info({2, 3, 4}));
    std::vector<float> wv(20);
    for (size_t i = 0; i < wv.size(); ++i) wv[i] = 0.1f * static_cast<float>(i) - 1;
    ir::Value* w = *g.add_initializer("w", f32({4, 5}, wv));
    ir::Value* b = *g.add_initializer("b", f32({5}, {1, 2, 3, 4, 5}));
    ir::Value* m = value(g, "m", f32info({3, 5}));
    node(g, "MatMul", {x, w}, {m});
    ir::Value* y = value(g, "y", f32info({3, 5}));
    node(g, "Add", {b, m}, {y});  // bias first: commutative
    ir::Value* m3 = value(g, "m3", f32info({2, 3, 5}));
    node(g, "MatMul", {x3, w}, {m3});
    ir::Value* y3 = value(g, "y3", f32info({2, 3, 5}));
    node(g, "Add", {m3, b}, {y3});  // 3-D: left alone
    g.add_output(y);
    g.add_output(y3);
  };
  Result r = check_pass(build, make_matmul_add_fusion(), 1e-5);
  EXPECT_EQ(ops(*r.g), (Ops{"MatMul", "Add", "Gemm"})) << r.g->dump();
  EXPECT_EQ(r.stats.get("Gemm"), 1);
  EXPECT_EQ(r.g->find_value("y")->producer()->op_type(), "Gemm");
}

TEST(MatMulAddFusion, NonConstantOrWideBiasIsKept) {
  auto build = [](ir::Graph& g) {
    g.opsets()[""] = 17;
    ir::Value* x = input(g, "x", f32info({3, 4}));
    ir::Value* bias = input(g, "bias", f32info({5}));
    ir::Value* w = *g.add_initializer("w", f32({4, 5}, std::vector<float>(20, 0.5f)));
    ir::Value* m = value(g, "m", f32info({3, 5}));
    node(g, "MatMul", {x, w}, {m});
    ir::Value* y = value(g, "y", f32info({3, 5}));
    node(g, "Add", {m, bias}, {y});
    ir::Value* m2 = value(g, "m2", f32info({3, 5}));
    node(g, "MatMul", {x, w}, {m2});
    ir::Value* full = *g.add_initializer("full", f32({3, 5}, std::vector<float>(15, 1.f)));
    ir::Value* y2 = value(g, "y2", f32info({3, 5}));
    node(g, "Add", {m2, full}, {y2});
    g.add_output(y);
    g.add_output(y2);
  };
  Result r = check_pass(build, make_matmul_add_fusion());
  EXPECT_FALSE(r.changed);
}

// --- the whole level on the example encoder ----------------------------------------------------

const std::string kExample = std::string(KILN_SOURCE_DIR) + "/tests/models/example/";

TEST(BasicLevel, ExampleEncoderSameOutputs) {
  auto ref = onnx_io::load_model(kExample + "encoder.onnx");
  ASSERT_TRUE(ref.has_value()) << ref.status().to_string();
  auto opt = onnx_io::load_model(kExample + "encoder.onnx");
  ASSERT_TRUE(opt.has_value());
  PassContext ctx;
  ctx.level = 1;
  PassManagerOptions pmo;
  pmo.verify_each = true;
  Status st = optimize(*opt->graph, ctx, pmo);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  // Every Shape in the encoder reads the symbolic batch or sequence dim and its MatMuls are
  // 3-D: level 1 only finds the Identity (as ONNX Runtime's basic level does).
  EXPECT_EQ(opt->graph->num_nodes(), ref->graph->num_nodes() - 1);
  EXPECT_EQ(ctx.stats.to_string(), "identity_removed: 1");
  std::map<std::string, Tensor> feeds;
  for (const char* name : {"input_ids", "attention_mask"}) {
    auto t = io::load_tensor_file(kExample + "inputs/" + name + ".npy");
    ASSERT_TRUE(t.has_value()) << t.status().to_string();
    feeds[name] = *t;
  }
  expect_close(run(*ref->graph, feeds), run(*opt->graph, feeds), 1e-5);
  // Symbolic batch and sequence still work after folding: a longer sequence.
  std::map<std::string, Tensor> feeds2;
  Tensor ids = *Tensor::create(DType::kInt64, {2, 20});
  Tensor mask = *Tensor::create(DType::kInt64, {2, 20});
  for (int64_t i = 0; i < ids.numel(); ++i) {
    ids.data<int64_t>()[i] = (i * 37) % 1000;
    mask.data<int64_t>()[i] = i % 20 < 17 ? 1 : 0;
  }
  feeds2["input_ids"] = ids;
  feeds2["attention_mask"] = mask;
  expect_close(run(*ref->graph, feeds2), run(*opt->graph, feeds2), 1e-5);
  std::printf("level 1 on the example: %zu -> %zu nodes; %s\n", ref->graph->num_nodes(),
              opt->graph->num_nodes(), ctx.stats.to_string().c_str());
}

}  // namespace
}  // namespace kiln::passes
