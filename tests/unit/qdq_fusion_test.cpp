// QDQ fusion (graph/passes/qdq_fusion.cpp): DequantizeLinear -> MatMul / Gemm -> QuantizeLinear
// chains become QLinearMatMul, DequantizeLinear -> Conv -> QuantizeLinear QLinearConv. IR checks on
// hand-built graphs, the cases that must stay unfused, and the numbers before and after on the CPU
// executor: the 8-bit outputs agree exactly except where the QDQ graph's float product lies within
// rounding error of a .5 boundary (tolerance: off by at most 1, on at most 2% of the values).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <tuple>

#include "graph/ir/graph.h"
#include "graph/passes/pass.h"
#include "runtime/cpu/executor.h"

namespace kiln::passes {
std::unique_ptr<Pass> make_qdq_fusion();

namespace {

ir::ValueInfo info(DType dt, std::vector<int64_t> dims) {
  ir::ValueInfo i;
  i.dtype = dt;
  i.has_shape = true;
  for (int64_t d : dims) i.dims.push_back(ir::Dim{d, ""});
  return i;
}

ir::Attribute int_a(int64_t v) {
  ir::Attribute a;
  a.type = ir::AttrType::kInt;
  a.i = v;
  return a;
}

struct Opts {
  int64_t m = 13, k = 37, n = 9;
  bool per_column = false;
  bool signed_act = false;  // int8 activations (else uint8)
  bool escape = false;      // the MatMul output is also a graph output
  bool shared_dq = false;   // the activation's DequantizeLinear has a second reader
  bool per_row_a = false;   // a_scale [m]: not fused
  int64_t w_axis = 1;
};

// x float [m, k] -> QuantizeLinear -> DequantizeLinear -> MatMul(DequantizeLinear(w int8 [k, n]))
// -> QuantizeLinear -> y (8-bit).
void build(ir::Graph& g, const Opts& o) {
  g.opsets()[""] = 13;
  int k = 0;
  auto nm = [&] { return std::string("v").append(std::to_string(k++)); };
  auto cst = [&](Tensor t) { return *g.add_initializer(nm(), std::move(t)); };
  auto node = [&](const std::string& op, std::vector<ir::Value*> ins, ir::ValueInfo out,
                  std::map<std::string, ir::Attribute> attrs = {}) {
    ir::Value* v = *g.add_value(nm(), out);
    ir::Node* n = *g.add_node(op, "", ins, {v}, std::string("n").append(std::to_string(k)));
    for (auto& [a, at] : attrs) n->set_attr(a, at);
    return v;
  };
  const DType at = o.signed_act ? DType::kInt8 : DType::kUInt8;
  ir::Value* x = *g.add_value("x", info(DType::kFloat32, {o.m, o.k}));
  g.add_input(x);
  ir::Value* xs = o.per_row_a
                      ? cst(Tensor::from_vector<float>({o.m}, std::vector<float>(o.m, 0.02f)))
                      : cst(Tensor::scalar<float>(0.0173f));
  ir::Value* xz =
      o.signed_act
          ? cst(Tensor::scalar<int8_t>(-3))
          : cst(o.per_row_a ? Tensor::from_vector<uint8_t>({o.m}, std::vector<uint8_t>(o.m, 128))
                            : Tensor::scalar<uint8_t>(131));
  ir::Value* xq = node("QuantizeLinear", {x, xs, xz}, info(at, {o.m, o.k}),
                       o.per_row_a ? std::map<std::string, ir::Attribute>{{"axis", int_a(0)}}
                                   : std::map<std::string, ir::Attribute>{});
  ir::Value* xd = node("DequantizeLinear", {xq, xs, xz}, info(DType::kFloat32, {o.m, o.k}),
                       o.per_row_a ? std::map<std::string, ir::Attribute>{{"axis", int_a(0)}}
                                   : std::map<std::string, ir::Attribute>{});
  std::vector<int8_t> w(static_cast<size_t>(o.k * o.n));
  std::mt19937 rng(5);
  for (int8_t& v : w) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
  ir::Value* wq = cst(Tensor::from_vector<int8_t>({o.k, o.n}, w));
  ir::Value *ws, *wz;
  if (o.per_column) {
    std::vector<float> s(static_cast<size_t>(o.n));
    for (int64_t i = 0; i < o.n; ++i) s[i] = 0.004f + 0.001f * static_cast<float>(i % 7);
    ws = cst(Tensor::from_vector<float>({o.n}, s));
    wz = cst(Tensor::from_vector<int8_t>({o.n}, std::vector<int8_t>(o.n, 0)));
  } else {
    ws = cst(Tensor::scalar<float>(0.0061f));
    wz = cst(Tensor::scalar<int8_t>(2));
  }
  ir::Value* wd = node("DequantizeLinear", {wq, ws, wz}, info(DType::kFloat32, {o.k, o.n}),
                       {{"axis", int_a(o.w_axis)}});
  ir::Value* mm = node("MatMul", {xd, wd}, info(DType::kFloat32, {o.m, o.n}));
  ir::Value* y = node("QuantizeLinear",
                      {mm, cst(Tensor::scalar<float>(0.05f)), cst(Tensor::scalar<uint8_t>(120))},
                      info(DType::kUInt8, {o.m, o.n}));
  g.add_output(y);
  if (o.escape) g.add_output(mm);
  if (o.shared_dq) g.add_output(node("Relu", {xd}, info(DType::kFloat32, {o.m, o.k})));
}

int count_op(const ir::Graph& g, const std::string& op) {
  int n = 0;
  for (const ir::Node* x : g.nodes()) n += x->op_type() == op ? 1 : 0;
  return n;
}

struct Result {
  ir::Graph before, after;
  PassStats stats;
};

void fuse(const Opts& o, Result& r) {
  build(r.before, o);
  build(r.after, o);
  PassContext ctx;
  ctx.level = 2;
  auto changed = make_qdq_fusion()->run(r.after, ctx);
  ASSERT_TRUE(changed.has_value()) << changed.status().message();
  Status v = r.after.verify();
  ASSERT_TRUE(v.is_ok()) << v.message();
  r.stats = ctx.stats;
}

// The 8-bit output y of both graphs on random x: off by at most 1, on at most 2% of the values.
void expect_close(const Result& r) {
  const auto& in = r.before.inputs()[0]->info().dims;
  const int64_t m = in[0].value, k = in[1].value;
  std::vector<float> x(static_cast<size_t>(m * k));
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  for (float& v : x) v = u(rng);
  std::map<std::string, Tensor> feeds{{"x", Tensor::from_vector<float>({m, k}, x)}};
  cpu::Executor e1(r.before, 1), e2(r.after, 1);
  ASSERT_TRUE(e1.prepare().is_ok());
  ASSERT_TRUE(e2.prepare().is_ok());
  auto o1 = e1.run(feeds);
  auto o2 = e2.run(feeds);
  ASSERT_TRUE(o1.has_value()) << o1.status().message();
  ASSERT_TRUE(o2.has_value()) << o2.status().message();
  const Tensor& a = (*o1)[0];
  const Tensor& b = (*o2)[0];
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(b.dtype(), DType::kUInt8);
  int64_t off = 0, spread = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const int d = std::abs(int(a.data<uint8_t>()[i]) - int(b.data<uint8_t>()[i]));
    EXPECT_LE(d, 1) << "element " << i;
    off += d != 0;
    spread += a.data<uint8_t>()[i] != a.data<uint8_t>()[0];
  }
  EXPECT_LE(off * 50, a.numel());
  if (a.numel() > 1) {
    EXPECT_GT(spread, 0);  // not all saturated
  }
}

TEST(QdqFusion, MatMulBecomesQLinearMatMul) {
  for (bool pc : {false, true}) {
    for (bool s : {false, true}) {
      for (auto [m, k, n] :
           {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {13, 37, 9}, {3, 127, 64}}) {
        Opts o;
        o.m = m, o.k = k, o.n = n, o.per_column = pc, o.signed_act = s;
        Result r;
        fuse(o, r);
        EXPECT_EQ(count_op(r.after, "QLinearMatMul"), 1);
        EXPECT_EQ(count_op(r.after, "MatMul"), 0);
        EXPECT_EQ(count_op(r.after, "DequantizeLinear"), 0);
        EXPECT_EQ(count_op(r.after, "QuantizeLinear"), 1);  // the input's
        EXPECT_EQ(r.stats.get("QLinearMatMul"), 1);
        ASSERT_EQ(r.after.outputs()[0]->name(), r.before.outputs()[0]->name());
        expect_close(r);
      }
    }
  }
}

TEST(QdqFusion, SharedDequantizeStays) {
  Opts o;
  o.shared_dq = true;
  Result r;
  fuse(o, r);
  EXPECT_EQ(count_op(r.after, "QLinearMatMul"), 1);
  EXPECT_EQ(count_op(r.after, "DequantizeLinear"), 1);
  expect_close(r);
}

TEST(QdqFusion, NotWhenTheMatMulEscapesOrParametersDoNotFit) {
  for (int c = 0; c < 3; ++c) {
    Opts o;
    o.per_column = c == 2;
    if (c == 0) o.escape = true;
    if (c == 1) o.per_row_a = true;
    if (c == 2) o.w_axis = 0;  // per-row of w: no QLinearMatMul form
    Result r;
    fuse(o, r);
    EXPECT_EQ(count_op(r.after, "QLinearMatMul"), 0) << c;
    EXPECT_EQ(count_op(r.after, "MatMul"), 1) << c;
  }
}

// --- Conv and Gemm -------------------------------------------------------------------------

enum class Bias { kNone, kInt32Exact, kInt32OtherScale, kFloat };

struct ConvOpts {
  int64_t c = 3, m = 5, h = 7, w = 9, k = 3;
  bool per_channel = false;
  bool signed_act = false;
  Bias bias = Bias::kNone;
  int64_t group = 1;
};

// x float [1, c, h, w] -> Q -> DQ -> Conv(DQ(w int8 [m, c/group, k, k]), bias, pads k/2)
// -> Q -> y (8-bit, x's type).
void build_conv(ir::Graph& g, const ConvOpts& o) {
  g.opsets()[""] = 13;
  int id = 0;
  auto nm = [&] { return std::string("v").append(std::to_string(id++)); };
  auto cst = [&](Tensor t) { return *g.add_initializer(nm(), std::move(t)); };
  auto node = [&](const std::string& op, std::vector<ir::Value*> ins, ir::ValueInfo out,
                  std::map<std::string, ir::Attribute> attrs = {}) {
    ir::Value* v = *g.add_value(nm(), out);
    ir::Node* n = *g.add_node(op, "", ins, {v}, std::string("n").append(std::to_string(id)));
    for (auto& [a, at] : attrs) n->set_attr(a, at);
    return v;
  };
  const DType at = o.signed_act ? DType::kInt8 : DType::kUInt8;
  ir::Value* x = *g.add_value("x", info(DType::kFloat32, {1, o.c, o.h, o.w}));
  g.add_input(x);
  const float xs_v = 0.0173f;
  ir::Value* xs = cst(Tensor::scalar<float>(xs_v));
  ir::Value* xz =
      o.signed_act ? cst(Tensor::scalar<int8_t>(-3)) : cst(Tensor::scalar<uint8_t>(131));
  ir::Value* xq = node("QuantizeLinear", {x, xs, xz}, info(at, {1, o.c, o.h, o.w}));
  ir::Value* xd = node("DequantizeLinear", {xq, xs, xz}, info(DType::kFloat32, {1, o.c, o.h, o.w}));
  const int64_t cg = o.c / o.group;
  std::vector<int8_t> w(static_cast<size_t>(o.m * cg * o.k * o.k));
  std::mt19937 rng(7);
  for (int8_t& v : w) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
  ir::Value* wq = cst(Tensor::from_vector<int8_t>({o.m, cg, o.k, o.k}, w));
  std::vector<float> wsv(o.per_channel ? static_cast<size_t>(o.m) : 1);
  for (size_t i = 0; i < wsv.size(); ++i) wsv[i] = 0.004f + 0.001f * static_cast<float>(i % 5);
  ir::Value *ws, *wz;
  if (o.per_channel) {
    ws = cst(Tensor::from_vector<float>({o.m}, wsv));
    wz = cst(Tensor::from_vector<int8_t>({o.m}, std::vector<int8_t>(o.m, 0)));
  } else {
    ws = cst(Tensor::scalar<float>(wsv[0]));
    wz = cst(Tensor::scalar<int8_t>(0));
  }
  ir::Value* wd = node("DequantizeLinear", {wq, ws, wz}, info(DType::kFloat32, {o.m, cg, o.k, o.k}),
                       {{"axis", int_a(0)}});
  std::vector<ir::Value*> in = {xd, wd};
  std::vector<float> bf(static_cast<size_t>(o.m));
  for (int64_t i = 0; i < o.m; ++i) bf[i] = 0.05f * static_cast<float>(i % 7) - 0.13f;
  if (o.bias == Bias::kFloat) in.push_back(cst(Tensor::from_vector<float>({o.m}, bf)));
  if (o.bias == Bias::kInt32Exact || o.bias == Bias::kInt32OtherScale) {
    std::vector<float> bs(static_cast<size_t>(o.m));
    std::vector<int32_t> bq(static_cast<size_t>(o.m));
    for (int64_t i = 0; i < o.m; ++i) {
      bs[i] = o.bias == Bias::kInt32Exact ? xs_v * wsv[o.per_channel ? i : 0] : 0.0007f;
      bq[i] = static_cast<int32_t>(std::nearbyint(double{bf[i]} / bs[i]));
    }
    ir::Value* bqv = cst(Tensor::from_vector<int32_t>({o.m}, bq));
    ir::Value* bsv = o.per_channel || o.bias == Bias::kInt32OtherScale
                         ? cst(Tensor::from_vector<float>({o.m}, bs))
                         : cst(Tensor::scalar<float>(bs[0]));
    ir::Value* bz = cst(Tensor::from_vector<int32_t>({o.m}, std::vector<int32_t>(o.m, 0)));
    if (bsv->initializer().numel() == 1) bz = cst(Tensor::scalar<int32_t>(0));
    in.push_back(node("DequantizeLinear", {bqv, bsv, bz}, info(DType::kFloat32, {o.m}),
                      {{"axis", int_a(0)}}));
  }
  ir::Attribute pads;
  pads.type = ir::AttrType::kInts;
  pads.ints = {o.k / 2, o.k / 2, o.k / 2, o.k / 2};
  ir::Value* cv = node("Conv", in, info(DType::kFloat32, {1, o.m, o.h, o.w}),
                       {{"pads", pads}, {"group", int_a(o.group)}});
  ir::Value* yz = o.signed_act ? cst(Tensor::scalar<int8_t>(5)) : cst(Tensor::scalar<uint8_t>(120));
  ir::Value* y = node("QuantizeLinear", {cv, cst(Tensor::scalar<float>(0.05f)), yz},
                      info(at, {1, o.m, o.h, o.w}));
  g.add_output(y);
}

// Runs both graphs on random x: the 8-bit outputs off by at most 1, on at most 2% of the values.
void expect_close_any(const ir::Graph& before, const ir::Graph& after) {
  const auto& dims = before.inputs()[0]->info().dims;
  Shape s;
  int64_t n = 1;
  for (const ir::Dim& d : dims) s.push_back(d.value), n *= d.value;
  std::vector<float> x(static_cast<size_t>(n));
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  for (float& v : x) v = u(rng);
  std::map<std::string, Tensor> feeds{{"x", Tensor::from_vector<float>(s, x)}};
  cpu::Executor e1(before, 1), e2(after, 1);
  ASSERT_TRUE(e1.prepare().is_ok());
  ASSERT_TRUE(e2.prepare().is_ok());
  auto o1 = e1.run(feeds);
  auto o2 = e2.run(feeds);
  ASSERT_TRUE(o1.has_value()) << o1.status().message();
  ASSERT_TRUE(o2.has_value()) << o2.status().message();
  const Tensor& a = (*o1)[0];
  const Tensor& b = (*o2)[0];
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.dtype(), b.dtype());
  int64_t off = 0, spread = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::fabs(a.get_as_double(i) - b.get_as_double(i));
    EXPECT_LE(d, 1) << "element " << i;
    off += d != 0;
    spread += a.get_as_double(i) != a.get_as_double(0);
  }
  EXPECT_LE(off * 50, a.numel());
  if (a.numel() > 1) {
    EXPECT_GT(spread, 0);
  }
}

TEST(QdqFusion, ConvBecomesQLinearConv) {
  for (Bias b : {Bias::kNone, Bias::kInt32Exact, Bias::kInt32OtherScale, Bias::kFloat}) {
    for (bool pc : {false, true}) {
      for (bool sa : {false, true}) {
        for (auto [c, m, h, w, k, grp] :
             {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>{1, 1, 1, 1, 1, 1},
              {3, 5, 7, 9, 3, 1},
              {4, 13, 5, 13, 3, 1},
              {6, 6, 9, 7, 3, 3}}) {
          ConvOpts o;
          o.c = c, o.m = m, o.h = h, o.w = w, o.k = k, o.group = grp;
          o.per_channel = pc, o.signed_act = sa, o.bias = b;
          ir::Graph before, after;
          build_conv(before, o);
          build_conv(after, o);
          PassContext ctx;
          ctx.level = 2;
          auto changed = make_qdq_fusion()->run(after, ctx);
          ASSERT_TRUE(changed.has_value()) << changed.status().message();
          ASSERT_TRUE(after.verify().is_ok());
          const std::string what = "bias " + std::to_string(int(b)) + " pc " + std::to_string(pc) +
                                   " signed " + std::to_string(sa) + " c " + std::to_string(c) +
                                   " m " + std::to_string(m);
          EXPECT_EQ(count_op(after, "QLinearConv"), 1) << what;
          EXPECT_EQ(count_op(after, "Conv"), 0) << what;
          EXPECT_EQ(count_op(after, "DequantizeLinear"), 0) << what;
          EXPECT_EQ(ctx.stats.get("QLinearConv"), 1) << what;
          const ir::Node* qc = nullptr;
          for (const ir::Node* n : after.nodes())
            if (n->op_type() == "QLinearConv") qc = n;
          ASSERT_NE(qc, nullptr);
          EXPECT_EQ(qc->inputs().size(), b == Bias::kNone ? 8u : 9u) << what;
          EXPECT_EQ(qc->attr("group")->i, grp);
          if (b != Bias::kNone) {
            const Tensor& bq = qc->input(8)->initializer();
            ASSERT_EQ(bq.dtype(), DType::kInt32);
            const Tensor& xs = qc->input(1)->initializer();
            const Tensor& ws = qc->input(4)->initializer();
            for (int64_t i = 0; i < m; ++i) {
              const float s = xs.data<float>()[0] * ws.data<float>()[ws.numel() == 1 ? 0 : i];
              const double f = 0.05 * static_cast<double>(i % 7) - 0.13;
              // Within half a step of the bias; the int32 bias of the other scale (0.0007) is
              // requantized from its own rounding: half of that step more.
              const double bound =
                  0.5 * double{s} + (b == Bias::kInt32OtherScale ? 0.00035 : 0.0) + 1e-6;
              EXPECT_LE(std::fabs(bq.data<int32_t>()[i] * double{s} - f), bound)
                  << what << " channel " << i;
            }
          }
          expect_close_any(before, after);
        }
      }
    }
  }
}

// x float [m, k] -> Q -> DQ -> Gemm(DQ(w int8 [k, n] or [n, k] with transB), C?) -> Q -> y.
void build_gemm(ir::Graph& g, int64_t m, int64_t k, int64_t n, bool trans_b, bool per_col,
                bool bias, float alpha = 1.0f, float beta = 1.0f) {
  g.opsets()[""] = 13;
  int id = 0;
  auto nm = [&] { return std::string("v").append(std::to_string(id++)); };
  auto cst = [&](Tensor t) { return *g.add_initializer(nm(), std::move(t)); };
  auto node = [&](const std::string& op, std::vector<ir::Value*> ins, ir::ValueInfo out,
                  std::map<std::string, ir::Attribute> attrs = {}) {
    ir::Value* v = *g.add_value(nm(), out);
    ir::Node* nd = *g.add_node(op, "", ins, {v}, std::string("n").append(std::to_string(id)));
    for (auto& [a, at] : attrs) nd->set_attr(a, at);
    return v;
  };
  ir::Value* x = *g.add_value("x", info(DType::kFloat32, {m, k}));
  g.add_input(x);
  ir::Value* xs = cst(Tensor::scalar<float>(0.0173f));
  ir::Value* xz = cst(Tensor::scalar<uint8_t>(131));
  ir::Value* xq = node("QuantizeLinear", {x, xs, xz}, info(DType::kUInt8, {m, k}));
  ir::Value* xd = node("DequantizeLinear", {xq, xs, xz}, info(DType::kFloat32, {m, k}));
  std::vector<int8_t> w(static_cast<size_t>(k * n));
  std::mt19937 rng(3);
  for (int8_t& v : w) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
  const Shape ws_shape = trans_b ? Shape{n, k} : Shape{k, n};
  ir::Value* wq = cst(Tensor::from_vector<int8_t>(ws_shape, w));
  ir::Value *ws, *wz;
  if (per_col) {
    std::vector<float> s(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) s[i] = 0.004f + 0.001f * static_cast<float>(i % 7);
    ws = cst(Tensor::from_vector<float>({n}, s));
    wz = cst(Tensor::from_vector<int8_t>({n}, std::vector<int8_t>(n, 0)));
  } else {
    ws = cst(Tensor::scalar<float>(0.0061f));
    wz = cst(Tensor::scalar<int8_t>(2));
  }
  ir::Value* wd = node("DequantizeLinear", {wq, ws, wz}, info(DType::kFloat32, ws_shape),
                       {{"axis", int_a(trans_b ? 0 : 1)}});
  std::vector<ir::Value*> in = {xd, wd};
  if (bias) in.push_back(cst(Tensor::from_vector<float>({n}, std::vector<float>(n, 0.1f))));
  std::map<std::string, ir::Attribute> attrs{{"transB", int_a(trans_b ? 1 : 0)}};
  if (alpha != 1.0f || beta != 1.0f) {
    ir::Attribute fa, fb;
    fa.type = fb.type = ir::AttrType::kFloat;
    fa.f = alpha, fb.f = beta;
    attrs["alpha"] = fa, attrs["beta"] = fb;
  }
  ir::Value* mm = node("Gemm", in, info(DType::kFloat32, {m, n}), attrs);
  ir::Value* y = node("QuantizeLinear",
                      {mm, cst(Tensor::scalar<float>(0.05f)), cst(Tensor::scalar<uint8_t>(120))},
                      info(DType::kUInt8, {m, n}));
  g.add_output(y);
}

TEST(QdqFusion, GemmBecomesQLinearMatMulOrWithABiasQGemm) {
  for (bool tb : {false, true}) {
    for (bool pc : {false, true}) {
      for (bool bias : {false, true}) {
        for (auto [m, k, n] :
             {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {13, 37, 9}, {3, 127, 64}}) {
          ir::Graph before, after;
          build_gemm(before, m, k, n, tb, pc, bias);
          build_gemm(after, m, k, n, tb, pc, bias);
          PassContext ctx;
          ctx.level = 2;
          auto changed = make_qdq_fusion()->run(after, ctx);
          ASSERT_TRUE(changed.has_value()) << changed.status().message();
          ASSERT_TRUE(after.verify().is_ok());
          EXPECT_EQ(count_op(after, "QLinearMatMul"), bias ? 0 : 1);
          EXPECT_EQ(count_op(after, "QGemm"), bias ? 1 : 0);
          EXPECT_EQ(count_op(after, "Gemm"), 0);
          for (const ir::Node* nd : after.nodes()) {
            if (nd->op_type() != "QGemm") continue;
            // w as stored (transB kept), the float bias 0.1 as int32 at x_s * w_s[n].
            EXPECT_EQ(nd->domain(), "com.microsoft");
            ASSERT_EQ(nd->inputs().size(), 9u);
            EXPECT_EQ(nd->input(3)->initializer().shape(), tb ? (Shape{n, k}) : (Shape{k, n}));
            EXPECT_EQ(nd->attr("transB") ? nd->attr("transB")->i : 0, tb ? 1 : 0);
            const Tensor& cq = nd->input(6)->initializer();
            ASSERT_EQ(cq.dtype(), DType::kInt32);
            ASSERT_EQ(cq.numel(), n);
            for (int64_t i = 0; i < n; ++i) {
              const float wsv = pc ? 0.004f + 0.001f * static_cast<float>(i % 7) : 0.0061f;
              EXPECT_EQ(cq.data<int32_t>()[i],
                        static_cast<int32_t>(std::nearbyint(double{0.1f} / (0.0173f * wsv))));
            }
          }
          if (!bias && tb) {
            for (const ir::Node* nd : after.nodes()) {
              if (nd->op_type() == "QLinearMatMul") {
                EXPECT_EQ(nd->input(3)->initializer().shape(), (Shape{k, n}));
              }
            }
          }
          expect_close_any(before, after);
        }
      }
    }
  }
}

// alpha and beta: the bias is requantized with beta / alpha folded in (QGemm applies alpha to
// the sum with C); fused vs unfused as above.
TEST(QdqFusion, GemmWithBiasAlphaBetaBecomesQGemm) {
  for (bool tb : {false, true}) {
    for (bool pc : {false, true}) {
      ir::Graph before, after;
      build_gemm(before, 13, 37, 9, tb, pc, true, 0.5f, 3.0f);
      build_gemm(after, 13, 37, 9, tb, pc, true, 0.5f, 3.0f);
      PassContext ctx;
      ctx.level = 2;
      auto changed = make_qdq_fusion()->run(after, ctx);
      ASSERT_TRUE(changed.has_value()) << changed.status().message();
      ASSERT_TRUE(after.verify().is_ok());
      ASSERT_EQ(count_op(after, "QGemm"), 1);
      for (const ir::Node* nd : after.nodes()) {
        if (nd->op_type() != "QGemm") continue;
        EXPECT_FLOAT_EQ(nd->attr("alpha")->f, 0.5f);
        EXPECT_EQ(nd->attr("beta"), nullptr);
        const Tensor& cq = nd->input(6)->initializer();
        for (int64_t i = 0; i < 9; ++i) {
          const float wsv = pc ? 0.004f + 0.001f * static_cast<float>(i % 7) : 0.0061f;
          EXPECT_EQ(
              cq.data<int32_t>()[i],
              static_cast<int32_t>(std::nearbyint(double{0.1f} * (3.0 / 0.5) / (0.0173f * wsv))));
        }
      }
      expect_close_any(before, after);
    }
  }
}

}  // namespace
}  // namespace kiln::passes
