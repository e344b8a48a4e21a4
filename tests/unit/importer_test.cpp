// Importer tests: well-formed models, external data rules, and malformed protobufs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "graph/onnx/importer.h"
#include "graph/onnx/tensor_proto.h"
#include "onnx/onnx_pb.h"

namespace kiln::onnx_io {
namespace {

namespace fs = std::filesystem;

class ImporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_importer_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "model");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // y = Add(x, w) with w a float[4] initializer; opset 13.
  static onnx::ModelProto add_model() {
    onnx::ModelProto m;
    m.set_ir_version(8);
    auto* op = m.add_opset_import();
    op->set_domain("");
    op->set_version(13);
    auto* g = m.mutable_graph();
    g->set_name("g");
    auto* x = g->add_input();
    x->set_name("x");
    x->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    x->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("n");
    auto* w = g->add_initializer();
    w->set_name("w");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(4);
    for (int i = 0; i < 4; ++i) w->add_float_data(static_cast<float>(i));
    auto* n = g->add_node();
    n->set_op_type("Add");
    n->set_name("add");
    n->add_input("x");
    n->add_input("w");
    n->add_output("y");
    auto* y = g->add_output();
    y->set_name("y");
    y->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    y->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(4);
    return m;
  }

  Expected<Model> load(const onnx::ModelProto& m, const std::string& name = "m.onnx") {
    std::string path = (dir_ / "model" / name).string();
    std::ofstream f(path, std::ios::binary);
    m.SerializeToOstream(&f);
    f.close();
    return load_model(path);
  }

  void write_file(const fs::path& p, size_t bytes) {
    std::ofstream f(p, std::ios::binary);
    std::string data(bytes, '\0');
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
  }

  // Turns initializer w into external data at `location` (offset 0, 16 bytes).
  static void make_external(onnx::ModelProto* m, const std::string& location) {
    auto* w = m->mutable_graph()->mutable_initializer(0);
    w->clear_float_data();
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* kv = w->add_external_data();
    kv->set_key("location");
    kv->set_value(location);
  }

  fs::path dir_;
};

TEST_F(ImporterTest, LoadsSimpleModel) {
  auto m = load(add_model());
  ASSERT_TRUE(m.has_value()) << m.status().to_string();
  const ir::Graph& g = *m->graph;
  ASSERT_EQ(g.inputs().size(), 1u);
  EXPECT_EQ(g.inputs()[0]->info().to_string(), "float32[n]");
  ASSERT_EQ(g.num_nodes(), 1u);
  EXPECT_EQ(g.nodes()[0]->opset(), 13);
  const ir::Value* w = g.find_value("w");
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->is_initializer());
  EXPECT_EQ(w->initializer().data<float>()[3], 3.0f);
  EXPECT_TRUE(g.verify().is_ok());
}

TEST_F(ImporterTest, EmptyAndGarbageFiles) {
  std::string p = (dir_ / "empty.onnx").string();
  write_file(p, 0);
  auto m = load_model(p);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.status().message().find("empty"), std::string::npos);
  {
    std::ofstream f(dir_ / "garbage.onnx", std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(static_cast<char>((i * 7919 + 13) & 0xff));
  }
  auto g = load_model((dir_ / "garbage.onnx").string());
  ASSERT_FALSE(g.has_value());
  EXPECT_NE(g.status().message().find("garbage.onnx"), std::string::npos);
  auto missing = load_model((dir_ / "nope.onnx").string());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(ImporterTest, TruncatedModel) {
  std::string bytes = add_model().SerializeAsString();
  for (size_t cut : {bytes.size() / 3, bytes.size() / 2, bytes.size() - 3}) {
    auto m = load_model_from_bytes(bytes.substr(0, cut), dir_.string(), "cut.onnx");
    EXPECT_FALSE(m.has_value()) << "cut at " << cut;
  }
}

TEST_F(ImporterTest, UndefinedInputNamed) {
  auto proto = add_model();
  proto.mutable_graph()->mutable_node(0)->set_input(1, "ghost");
  auto m = load(proto);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.status().message().find("ghost"), std::string::npos) << m.status().message();
}

TEST_F(ImporterTest, CycleIsRefused) {
  auto proto = add_model();
  auto* g = proto.mutable_graph();
  // y = Add(x, z); z = Relu(y): a cycle.
  g->mutable_node(0)->set_input(1, "z");
  auto* r = g->add_node();
  r->set_op_type("Relu");
  r->set_name("relu");
  r->add_input("y");
  r->add_output("z");
  ImportOptions no_checker;
  no_checker.run_checker = false;  // make sure our own check catches it too
  auto m = load_model_from_bytes(proto.SerializeAsString(), dir_.string(), "cyc.onnx", no_checker);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.status().message().find("cycle"), std::string::npos) << m.status().message();
}

TEST_F(ImporterTest, RawDataSizeMismatch) {
  auto proto = add_model();
  auto* w = proto.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_raw_data(std::string(12, '\0'));  // 3 floats for dims [4]
  auto m = load(proto);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.status().message().find("'w'"), std::string::npos) << m.status().message();
}

TEST_F(ImporterTest, NegativeDim) {
  auto proto = add_model();
  proto.mutable_graph()->mutable_initializer(0)->set_dims(0, -4);
  auto m = load(proto);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.status().message().find("negative"), std::string::npos) << m.status().message();
}

TEST_F(ImporterTest, AbsurdDimsDoNotAllocate) {
  auto proto = add_model();
  auto* w = proto.mutable_graph()->mutable_initializer(0);
  w->set_dims(0, int64_t{1} << 40);
  auto m = load(proto);
  ASSERT_FALSE(m.has_value());
}

TEST_F(ImporterTest, ExternalDataInsideFolder) {
  auto proto = add_model();
  make_external(&proto, "weights/w.bin");
  fs::create_directories(dir_ / "model" / "weights");
  {
    std::ofstream f(dir_ / "model" / "weights" / "w.bin", std::ios::binary);
    float v[4] = {5, 6, 7, 8};
    f.write(reinterpret_cast<const char*>(v), sizeof v);
  }
  auto m = load(proto);
  ASSERT_TRUE(m.has_value()) << m.status().to_string();
  EXPECT_EQ(m->graph->find_value("w")->initializer().data<float>()[2], 7.0f);
  ASSERT_EQ(m->external_files.size(), 1u);
  EXPECT_EQ(m->external_files[0], "weights/w.bin");
}

TEST_F(ImporterTest, ExternalDataEscapingFolderRefused) {
  write_file(dir_ / "outside.bin", 16);
  for (std::string loc : {"../outside.bin", "weights/../../outside.bin", "/etc/passwd"}) {
    auto proto = add_model();
    make_external(&proto, loc);
    auto m = load(proto);
    ASSERT_FALSE(m.has_value()) << loc;
    EXPECT_NE(m.status().message().find(loc), std::string::npos) << m.status().message();
  }
}

TEST_F(ImporterTest, ExternalDataSymlinkEscapeRefused) {
  write_file(dir_ / "outside.bin", 16);
  fs::create_symlink(dir_ / "outside.bin", dir_ / "model" / "link.bin");
  auto proto = add_model();
  make_external(&proto, "link.bin");
  auto m = load(proto);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.status().message().find("outside"), std::string::npos) << m.status().message();
}

TEST_F(ImporterTest, ExternalDataTooShort) {
  write_file(dir_ / "model" / "short.bin", 8);
  auto proto = add_model();
  make_external(&proto, "short.bin");
  auto m = load(proto);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.status().message().find("short.bin"), std::string::npos) << m.status().message();
}

TEST_F(ImporterTest, UnknownOpInUnknownDomainIsImported) {
  auto proto = add_model();
  auto* op = proto.add_opset_import();
  op->set_domain("com.example");
  op->set_version(1);
  auto* n = proto.mutable_graph()->mutable_node(0);
  n->set_domain("com.example");
  n->set_op_type("Frobnicate");
  auto m = load(proto);
  ASSERT_TRUE(m.has_value()) << m.status().to_string();
  EXPECT_EQ(m->graph->nodes()[0]->domain(), "com.example");
}

TEST_F(ImporterTest, NewerOpsetIsImportedWithWarning) {
  auto proto = add_model();
  proto.mutable_opset_import(0)->set_version(max_known_onnx_opset() + 4);
  auto m = load(proto);
  ASSERT_TRUE(m.has_value()) << m.status().to_string();
  EXPECT_FALSE(m->warnings.empty());
}

}  // namespace
}  // namespace kiln::onnx_io
