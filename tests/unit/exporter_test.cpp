// ONNX export (graph/onnx/exporter.h): import -> export -> import gives the same graph dump and the
// same outputs; every attribute type survives; external data; errors name the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "graph/onnx/exporter.h"
#include "graph/onnx/importer.h"
#include "graph/passes/pass.h"
#include "runtime/io/tensor_io.h"
#include "test_util.h"

namespace kiln::onnx_io {
namespace {

namespace fs = std::filesystem;
using kiln::testing::f32;

const std::string kExample = std::string(KILN_SOURCE_DIR) + "/tests/models/example/";

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("kiln_exporter_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::map<std::string, Tensor> example_feeds() {
  std::map<std::string, Tensor> feeds;
  for (const char* name : {"input_ids", "attention_mask"})
    feeds[name] = *io::load_tensor_file(kExample + "inputs/" + name + ".npy");
  return feeds;
}

std::vector<Tensor> run(const ir::Graph& g, const std::map<std::string, Tensor>& feeds) {
  cpu::Executor ex(g, 1);
  auto r = ex.run(feeds);
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  return r.has_value() ? *r : std::vector<Tensor>{};
}

void expect_same(const std::vector<Tensor>& a, const std::vector<Tensor>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(shape_to_string(a[i].shape()), shape_to_string(b[i].shape()));
    for (int64_t k = 0; k < a[i].numel(); ++k)
      ASSERT_NEAR(a[i].get_as_double(k), b[i].get_as_double(k), tol);
  }
}

TEST(Exporter, ExampleRoundTrip) {
  TempDir tmp;
  auto m = load_model(kExample + "encoder.onnx");
  ASSERT_TRUE(m.has_value()) << m.status().to_string();
  ExportOptions eo;
  eo.keep_unused_initializers = true;
  ASSERT_TRUE(save_model(*m->graph, tmp.file("enc.onnx"), eo).is_ok());
  auto back = load_model(tmp.file("enc.onnx"));
  ASSERT_TRUE(back.has_value()) << back.status().to_string();
  EXPECT_EQ(m->graph->dump(), back->graph->dump());
  EXPECT_EQ(back->ir_version, 7);
  EXPECT_TRUE(back->warnings.empty());
  auto feeds = example_feeds();
  expect_same(run(*m->graph, feeds), run(*back->graph, feeds), 0);
  EXPECT_FALSE(fs::exists(tmp.file("enc.onnx.data")));

  // Optimized, with every initializer in external data.
  passes::PassContext ctx;
  ASSERT_TRUE(passes::optimize(*m->graph, ctx).is_ok());
  eo.external_threshold = 0;
  eo.keep_unused_initializers = false;
  ASSERT_TRUE(save_model(*m->graph, tmp.file("opt.onnx"), eo).is_ok());
  EXPECT_TRUE(fs::exists(tmp.file("opt.onnx.data")));
  EXPECT_LT(fs::file_size(tmp.file("opt.onnx")), 100000u);
  auto opt = load_model(tmp.file("opt.onnx"));
  ASSERT_TRUE(opt.has_value()) << opt.status().to_string();
  EXPECT_EQ(opt->external_files, std::vector<std::string>{"opt.onnx.data"});
  EXPECT_EQ(opt->graph->num_nodes(), m->graph->num_nodes());
  expect_same(run(*m->graph, feeds), run(*opt->graph, feeds), 0);

  // Overwriting the model being read (its external data mapped) is safe.
  ASSERT_TRUE(save_model(*opt->graph, tmp.file("opt.onnx"), eo).is_ok());
  expect_same(run(*m->graph, feeds), run(*opt->graph, feeds), 0);
  auto again = load_model(tmp.file("opt.onnx"));
  ASSERT_TRUE(again.has_value()) << again.status().to_string();
  expect_same(run(*m->graph, feeds), run(*again->graph, feeds), 0);
}

TEST(Exporter, EveryAttributeTypeAndDims) {
  TempDir tmp;
  ir::Graph g;
  g.name = "attrs";
  g.opsets()[""] = 17;
  g.opsets()["com.example"] = 3;
  ir::ValueInfo xi{DType::kFloat32, true, {ir::Dim{-1, "batch"}, ir::Dim{-1, ""}, ir::Dim{4, ""}}};
  ir::Value* x = *g.add_value("x", xi);
  g.add_input(x);
  ir::Value* y = *g.add_value("y", ir::ValueInfo{DType::kFloat32, false, {}});
  ir::Value* mid = *g.add_value("mid", ir::ValueInfo{DType::kFloat16, true, {ir::Dim{2, ""}}});
  ir::Node* n = *g.add_node("Custom", "com.example", {x, nullptr}, {mid, nullptr}, "custom");
  n->set_attr("f", kiln::testing::float_attr(0.25f));
  n->set_attr("i", kiln::testing::int_attr(-7));
  n->set_attr("s", kiln::testing::str_attr("hello"));
  n->set_attr("t", kiln::testing::tensor_attr(f32({2}, {1.5f, -2})));
  n->set_attr("fs", kiln::testing::floats_attr({1, 2.5f}));
  n->set_attr("is", kiln::testing::ints_attr({3, -1}));
  ir::Attribute ss;
  ss.type = ir::AttrType::kStrings;
  ss.strings = {"a", "b"};
  n->set_attr("ss", ss);
  ir::Attribute ts;
  ts.type = ir::AttrType::kTensors;
  ts.tensors = {kiln::testing::i64v({1, 2, 3}), f32({}, {4})};
  n->set_attr("ts", ts);
  ASSERT_TRUE(g.add_node("Relu", "", {mid}, {y}, "relu").has_value());
  g.add_output(y);
  ASSERT_TRUE(g.verify().is_ok());

  auto proto = to_model_proto(g);
  ASSERT_TRUE(proto.has_value()) << proto.status().to_string();
  EXPECT_EQ(proto->graph().value_info_size(), 1);
  EXPECT_EQ(proto->graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "batch");
  EXPECT_FALSE(proto->graph().input(0).type().tensor_type().shape().dim(1).has_dim_value());
  EXPECT_FALSE(proto->graph().output(0).type().tensor_type().has_shape());
  ImportOptions io;
  io.run_checker = false;  // com.example has no schema
  io.infer_shapes = false;
  ASSERT_TRUE(save_model(g, tmp.file("attrs.onnx")).is_ok());
  auto back = load_model(tmp.file("attrs.onnx"), io);
  ASSERT_TRUE(back.has_value()) << back.status().to_string();
  EXPECT_EQ(g.dump(), back->graph->dump());
  EXPECT_EQ(back->graph->opset("com.example"), 3);
  const ir::Node* c = back->graph->nodes()[0];
  EXPECT_EQ(c->attr("s")->s, "hello");
  EXPECT_EQ(c->attr("ss")->strings, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(kiln::testing::values(c->attr("t")->t), (std::vector<double>{1.5, -2}));
  ASSERT_EQ(c->attr("ts")->tensors.size(), 2u);
  EXPECT_EQ(c->attr("ts")->tensors[0].dtype(), DType::kInt64);
  EXPECT_EQ(c->attr("ts")->tensors[1].rank(), 0);
  EXPECT_EQ(back->graph->find_value("mid")->info().to_string(), "float16[2]");
  EXPECT_EQ(back->graph->find_value("x")->info().to_string(), "float32[batch, ?, 4]");
}

TEST(Exporter, UnusedInitializersAndErrors) {
  TempDir tmp;
  ir::Graph g;
  g.opsets()[""] = 17;
  ir::Value* x = *g.add_value("x", ir::ValueInfo{DType::kFloat32, true, {ir::Dim{2, ""}}});
  g.add_input(x);
  ir::Value* w = *g.add_initializer("w", f32({2}, {1, 2}));
  ASSERT_TRUE(g.add_initializer("unused", f32({2}, {3, 4})).has_value());
  ir::Value* y = *g.add_value("y", x->info());
  ir::Node* n = *g.add_node("Add", "", {x, w}, {y});
  g.add_output(y);
  auto p = to_model_proto(g);
  ASSERT_TRUE(p.has_value());
  ASSERT_EQ(p->graph().initializer_size(), 1);
  EXPECT_EQ(p->graph().initializer(0).name(), "w");

  // A folder that does not exist.
  Status st = save_model(g, tmp.file("no/such/dir/m.onnx"));
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("no/such/dir"), std::string::npos) << st.message();

  // Subgraph attributes are refused, naming the node.
  ir::Attribute body;
  body.type = ir::AttrType::kGraph;
  n->set_attr("body", body);
  st = save_model(g, tmp.file("m.onnx"));
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("body"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(tmp.file("m.onnx")));
}

}  // namespace
}  // namespace kiln::onnx_io
