#include "graph/onnx/importer.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <filesystem>
#include <fstream>
#include <set>

#include "graph/onnx/tensor_proto.h"
#include "onnx/checker.h"
#include "onnx/defs/schema.h"
#include "onnx/shape_inference/implementation.h"

namespace kiln::onnx_io {

namespace fs = std::filesystem;

int max_known_onnx_opset() {
  const auto& m = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = m.find("");
  return it == m.end() ? 17 : it->second.second;
}

namespace {

constexpr int64_t kMaxKnownIrVersion = 8;  // libonnx 1.12

ir::ValueInfo value_info_from_type(const onnx::TypeProto& type) {
  ir::ValueInfo info;
  if (!type.has_tensor_type()) return info;
  const auto& tt = type.tensor_type();
  auto dt = dtype_from_onnx(tt.elem_type());
  info.dtype = dt ? *dt : DType::kUndefined;
  if (tt.has_shape()) {
    info.has_shape = true;
    for (const auto& d : tt.shape().dim()) {
      ir::Dim dim;
      if (d.has_dim_value() && d.dim_value() >= 0)
        dim.value = d.dim_value();
      else if (d.has_dim_param())
        dim.param = d.dim_param();
      info.dims.push_back(dim);
    }
  }
  return info;
}

Expected<ir::Attribute> convert_attribute(const onnx::AttributeProto& a, const std::string& where,
                                          const std::string& base_dir) {
  ir::Attribute out;
  auto type = a.type();
  if (type == onnx::AttributeProto::UNDEFINED) {  // very old models: infer from the field set
    if (a.has_f())
      type = onnx::AttributeProto::FLOAT;
    else if (a.has_i())
      type = onnx::AttributeProto::INT;
    else if (a.has_s())
      type = onnx::AttributeProto::STRING;
    else if (a.has_t())
      type = onnx::AttributeProto::TENSOR;
    else if (a.has_g())
      type = onnx::AttributeProto::GRAPH;
    else if (a.floats_size())
      type = onnx::AttributeProto::FLOATS;
    else if (a.ints_size())
      type = onnx::AttributeProto::INTS;
    else if (a.strings_size())
      type = onnx::AttributeProto::STRINGS;
    else
      type = onnx::AttributeProto::INTS;  // an empty list
  }
  std::string what = where + " attribute '" + a.name() + "'";
  switch (type) {
    case onnx::AttributeProto::FLOAT:
      out.type = ir::AttrType::kFloat;
      out.f = a.f();
      break;
    case onnx::AttributeProto::INT:
      out.type = ir::AttrType::kInt;
      out.i = a.i();
      break;
    case onnx::AttributeProto::STRING:
      out.type = ir::AttrType::kString;
      out.s = a.s();
      break;
    case onnx::AttributeProto::TENSOR: {
      out.type = ir::AttrType::kTensor;
      KILN_ASSIGN_OR_RETURN(out.t, tensor_from_proto(a.t(), base_dir, what));
      break;
    }
    case onnx::AttributeProto::GRAPH:
    case onnx::AttributeProto::GRAPHS:
      out.type = ir::AttrType::kGraph;
      break;
    case onnx::AttributeProto::FLOATS:
      out.type = ir::AttrType::kFloats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto::INTS:
      out.type = ir::AttrType::kInts;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto::STRINGS:
      out.type = ir::AttrType::kStrings;
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case onnx::AttributeProto::TENSORS:
      out.type = ir::AttrType::kTensors;
      for (const auto& t : a.tensors()) {
        KILN_ASSIGN_OR_RETURN(Tensor tt, tensor_from_proto(t, base_dir, what));
        out.tensors.push_back(std::move(tt));
      }
      break;
    case onnx::AttributeProto::SPARSE_TENSOR:
    case onnx::AttributeProto::SPARSE_TENSORS:
      return unsupported(what + ": sparse tensors are not supported");
    default:
      return invalid_model(what + ": unknown attribute type " + std::to_string(a.type()));
  }
  return out;
}

void collect_external(const onnx::TensorProto& t, std::set<std::string>* files) {
  if (t.data_location() != onnx::TensorProto::EXTERNAL) return;
  for (const auto& kv : t.external_data())
    if (kv.key() == "location") files->insert(kv.value());
}

// Refuses external-data locations that leave the model's folder before anything (the checker
// included) touches those paths.
Status check_external_locations(const onnx::GraphProto& g, const std::string& base_dir) {
  auto check = [&](const onnx::TensorProto& t, const std::string& what) -> Status {
    if (t.data_location() != onnx::TensorProto::EXTERNAL) return Status::ok();
    for (const auto& kv : t.external_data()) {
      if (kv.key() != "location") continue;
      auto r = resolve_external_path(base_dir, kv.value());
      if (!r) return r.status().with_context(what);
    }
    return Status::ok();
  };
  for (const auto& init : g.initializer())
    KILN_RETURN_IF_ERROR(check(init, "initializer '" + init.name() + "'"));
  for (const auto& n : g.node())
    for (const auto& a : n.attribute())
      if (a.has_t())
        KILN_RETURN_IF_ERROR(check(a.t(), "node '" + n.name() + "' attribute '" + a.name() + "'"));
  return Status::ok();
}

// Runs the checker. Models newer than libonnx (opset or IR version) only get a warning, since
// the checker cannot judge ops it has no schema for.
Status run_checker(const onnx::ModelProto& proto, bool newer_than_libonnx, Model* model) {
  try {
    onnx::checker::CheckerContext ctx;
    ctx.set_ir_version(static_cast<int>(std::min<int64_t>(proto.ir_version(), kMaxKnownIrVersion)));
    std::unordered_map<std::string, int> opsets;
    for (const auto& o : proto.opset_import()) opsets[o.domain()] = static_cast<int>(o.version());
    ctx.set_opset_imports(opsets);
    ctx.set_model_dir(model->base_dir);
    onnx::checker::LexicalScopeContext lex;
    onnx::checker::check_graph(proto.graph(), ctx, lex);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    auto nl = msg.find("\n\n==>");  // the checker appends the whole node; keep the first part
    if (nl != std::string::npos) msg = msg.substr(0, nl);
    if (newer_than_libonnx) {
      model->warnings.push_back("onnx checker (libonnx " + std::to_string(max_known_onnx_opset()) +
                                " schemas): " + msg);
      return Status::ok();
    }
    // onnxruntime registers LayerNormalization (before opset 17) and SimplifiedLayerNormalization
    // in the default domain, and its transformer optimizer writes them there: models from it are
    // legal for onnxruntime, so the checker's objection becomes a warning.
    for (const char* op : {"LayerNormalization", "SimplifiedLayerNormalization"}) {
      if (msg.find(std::string("No Op registered for ") + op + " with domain_version") !=
          std::string::npos) {
        model->warnings.push_back("onnx checker: " + msg +
                                  " (an onnxruntime extension of the default domain; the rest of "
                                  "the model was not checked)");
        return Status::ok();
      }
    }
    return invalid_model("onnx checker: " + msg);
  }
  return Status::ok();
}

// Runs onnx shape inference on `proto` in a forked child process, so that a crash inside libonnx
// costs the inferred shapes, never the process. The child sends back only what inference adds
// (value_info and the graph outputs' types). Returns false with `why` when it failed or crashed.
bool infer_shapes_isolated(onnx::ModelProto* proto, bool data_propagation, std::string* why) {
  int fds[2];
  if (::pipe(fds) != 0) {
    *why = "cannot create a pipe";
    return false;
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    *why = "cannot fork";
    return false;
  }
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    std::string out;
    try {
      onnx::ShapeInferenceOptions so;
      so.check_type = false;
      so.error_mode = 0;
      so.enable_data_propagation = data_propagation;
      onnx::shape_inference::InferShapes(*proto, onnx::OpSchemaRegistry::Instance(), so);
      onnx::GraphProto result;
      *result.mutable_value_info() = proto->graph().value_info();
      *result.mutable_output() = proto->graph().output();
      result.SerializeToString(&out);
    } catch (const std::exception& e) {
      out = e.what();
      code = 3;
    } catch (...) {
      out = "unknown error";
      code = 3;
    }
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t w = ::write(fds[1], out.data() + done, out.size() - done);
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
    ::close(fds[1]);
    ::_exit(code);
  }
  ::close(fds[1]);
  std::string data;
  char buf[65536];
  for (;;) {
    const ssize_t r = ::read(fds[0], buf, sizeof buf);
    if (r > 0) {
      data.append(buf, static_cast<size_t>(r));
    } else if (r == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    *why = "libonnx crashed (signal " + std::to_string(WTERMSIG(status)) +
           "); continuing without its results";
    return false;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *why = data.empty() ? "failed" : data;
    return false;
  }
  onnx::GraphProto result;
  if (!result.ParseFromString(data)) {
    *why = "could not read the child's result";
    return false;
  }
  *proto->mutable_graph()->mutable_value_info() = result.value_info();
  if (result.output_size() == proto->graph().output_size())
    *proto->mutable_graph()->mutable_output() = result.output();
  return true;
}

Status build_graph(const onnx::GraphProto& g, const std::map<std::string, int>& opsets,
                   Model* model) {
  auto graph = std::make_unique<ir::Graph>();
  graph->name = g.name();
  graph->opsets() = opsets;
  const std::string& base = model->base_dir;
  std::set<std::string> external;

  for (const auto& init : g.initializer()) {
    collect_external(init, &external);
    if (init.name().empty()) return invalid_model("an initializer has no name");
    KILN_ASSIGN_OR_RETURN(Tensor t,
                          tensor_from_proto(init, base, "initializer '" + init.name() + "'"));
    auto v = graph->add_initializer(init.name(), std::move(t));
    if (!v) return v.status();
  }
  for (const auto& sp : g.sparse_initializer())
    return unsupported("sparse initializer '" + sp.values().name() + "' is not supported");

  for (const auto& in : g.input()) {
    ir::Value* v = graph->find_value(in.name());
    if (v && v->is_initializer()) continue;  // IR < 4 lists initializers as inputs too
    if (v) return invalid_model("graph input '" + in.name() + "' is listed twice");
    if (!in.type().has_tensor_type())
      return unsupported("graph input '" + in.name() +
                         "' is not a tensor (sequences, maps and "
                         "optionals are not supported)");
    KILN_ASSIGN_OR_RETURN(v, graph->add_value(in.name(), value_info_from_type(in.type())));
    graph->add_input(v);
  }

  // Create every node output first so that undefined inputs and cycles can be told apart.
  struct Pending {
    const onnx::NodeProto* proto;
    std::vector<ir::Value*> outputs;
  };
  std::vector<Pending> pending;
  pending.reserve(static_cast<size_t>(g.node_size()));
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& np = g.node(i);
    Pending p{&np, {}};
    std::string where = "node '" + np.name() + "' (" + np.op_type() + ")";
    if (np.op_type().empty()) return invalid_model("node " + std::to_string(i) + " has no op_type");
    for (const auto& out : np.output()) {
      if (out.empty()) {
        p.outputs.push_back(nullptr);
        continue;
      }
      ir::Value* existing = graph->find_value(out);
      if (existing)
        return invalid_model(where + ": output '" + out + "' is already defined" +
                             (existing->is_graph_input()   ? " as a graph input"
                              : existing->is_initializer() ? " as an initializer"
                                                           : " by another node"));
      KILN_ASSIGN_OR_RETURN(ir::Value * v, graph->add_value(out));
      p.outputs.push_back(v);
    }
    pending.push_back(std::move(p));
  }

  for (size_t i = 0; i < pending.size(); ++i) {
    const auto& np = *pending[i].proto;
    std::string where = "node '" + np.name() + "' (" + np.op_type() + ")";
    std::vector<ir::Value*> inputs;
    for (int k = 0; k < np.input_size(); ++k) {
      const std::string& in = np.input(k);
      if (in.empty()) {
        inputs.push_back(nullptr);
        continue;
      }
      ir::Value* v = graph->find_value(in);
      if (!v)
        return invalid_model(where + ": input " + std::to_string(k) + " '" + in +
                             "' is not a graph input, an initializer, or a node output");
      inputs.push_back(v);
    }
    std::string name = np.name().empty() ? "" : np.name();
    if (!graph->opsets().count(ir::normalize_domain(np.domain())))
      return invalid_model(where + ": domain '" + np.domain() + "' has no opset import");
    KILN_ASSIGN_OR_RETURN(
        ir::Node * node,
        graph->add_node(np.op_type(), np.domain(), inputs, pending[i].outputs,
                        name.empty() ? np.op_type() + "_" + std::to_string(i) : name));
    for (const auto& a : np.attribute()) {
      if (a.name().empty()) return invalid_model(where + ": an attribute has no name");
      if (!a.ref_attr_name().empty())
        return invalid_model(where + ": attribute references are only valid inside functions");
      KILN_ASSIGN_OR_RETURN(ir::Attribute attr, convert_attribute(a, where, base));
      if (a.has_t()) collect_external(a.t(), &external);
      node->set_attr(a.name(), std::move(attr));
    }
  }

  for (const auto& out : g.output()) {
    ir::Value* v = graph->find_value(out.name());
    if (!v) return invalid_model("graph output '" + out.name() + "' is never produced");
    if (!out.type().has_tensor_type())
      return unsupported("graph output '" + out.name() + "' is not a tensor");
    ir::ValueInfo info = value_info_from_type(out.type());
    if (info.dtype != DType::kUndefined && !v->is_initializer()) v->mutable_info() = info;
    graph->add_output(v);
  }
  // Shape-inference results and annotations for intermediate values.
  for (const auto& vi : g.value_info()) {
    ir::Value* v = graph->find_value(vi.name());
    if (v && !v->is_initializer() && !v->is_graph_input() && vi.type().has_tensor_type()) {
      ir::ValueInfo info = value_info_from_type(vi.type());
      if (info.dtype != DType::kUndefined) v->mutable_info() = info;
    }
  }

  KILN_RETURN_IF_ERROR(graph->topo_sort());
  KILN_RETURN_IF_ERROR(graph->verify());
  model->external_files.assign(external.begin(), external.end());
  model->graph = std::move(graph);
  return Status::ok();
}

Expected<Model> import_proto(onnx::ModelProto& proto, Model model, const ImportOptions& options) {
  if (!proto.has_graph()) return invalid_model(model.path + ": the model has no graph");
  model.ir_version = proto.ir_version();
  model.producer_name = proto.producer_name();
  model.producer_version = proto.producer_version();

  std::map<std::string, int> opsets;
  for (const auto& o : proto.opset_import()) {
    std::string d = ir::normalize_domain(o.domain());
    if (o.version() <= 0 || o.version() > 1000)
      return invalid_model(model.path + ": opset import for domain '" + o.domain() +
                           "' has version " + std::to_string(o.version()));
    opsets[d] = static_cast<int>(o.version());
  }
  if (proto.opset_import_size() == 0) {
    if (proto.ir_version() >= 3) return invalid_model(model.path + ": the model imports no opset");
    opsets[""] = 1;
  }
  bool newer = model.ir_version > kMaxKnownIrVersion ||
               (opsets.count("") && opsets[""] > max_known_onnx_opset());

  KILN_RETURN_IF_ERROR(
      check_external_locations(proto.graph(), model.base_dir).with_context(model.path));
  if (options.run_checker)
    KILN_RETURN_IF_ERROR(run_checker(proto, newer, &model).with_context(model.path));

  if (options.infer_shapes && newer) {
    model.warnings.push_back("shape inference skipped: the model is newer than libonnx's schemas");
  } else if (options.infer_shapes) {
    // With data propagation first (it resolves Reshape targets computed from Shape), then
    // without it: libonnx 1.12 crashes with data propagation on some valid models (those written
    // by onnxruntime's transformer optimizer), so each attempt runs in a child process.
    std::string why;
    if (!infer_shapes_isolated(&proto, true, &why)) {
      model.warnings.push_back("shape inference with data propagation: " + why);
      std::string why2;
      if (!infer_shapes_isolated(&proto, false, &why2))
        model.warnings.push_back("shape inference: " + why2);
    }
  }
  Status st = build_graph(proto.graph(), opsets, &model);
  if (!st.is_ok()) return st.with_context(model.path);
  for (const auto& w : model.warnings) spdlog::debug("{}: {}", model.path, w);
  return model;
}

}  // namespace

Expected<Model> load_model_from_bytes(const std::string& bytes, const std::string& base_dir,
                                      const std::string& display_name,
                                      const ImportOptions& options) {
  Model model;
  model.path = display_name;
  model.base_dir = base_dir;
  if (bytes.empty()) return invalid_model(display_name + ": the file is empty");
  onnx::ModelProto proto;
  if (!proto.ParseFromString(bytes))
    return invalid_model(display_name +
                         ": not a valid ONNX model (protobuf parse failed; the "
                         "file is truncated or not an ONNX file)");
  try {
    return import_proto(proto, std::move(model), options);
  } catch (const std::bad_alloc&) {
    return out_of_memory(display_name + ": out of memory while importing");
  } catch (const std::exception& e) {
    return invalid_model(display_name + ": " + e.what());
  }
}

Expected<Model> load_model(const std::string& path, const ImportOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return not_found("model file '" + path + "' does not exist");
  if (fs::is_directory(path, ec))
    return invalid_argument("'" + path + "' is a folder, not a model file");
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot open model file '" + path + "'");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  fs::path p(path);
  std::string base = p.has_parent_path() ? p.parent_path().string() : std::string(".");
  return load_model_from_bytes(bytes, base, path, options);
}

}  // namespace kiln::onnx_io
