// ONNX export (see exporter.h).
#include "graph/onnx/exporter.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "graph/onnx/tensor_proto.h"

namespace kiln::onnx_io {

namespace fs = std::filesystem;

namespace {

// Protobuf refuses messages of 2 GiB or more; keep a margin for everything but the tensors.
constexpr int64_t kInlineLimit = (int64_t{2} << 30) - (int64_t{64} << 20);
constexpr int64_t kExternalAlign = 64;

// The IR version an ai.onnx opset needs (onnx/helper.py VERSION_TABLE), at least 7.
int64_t ir_version_for_opset(int opset) {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

void set_type(const ir::ValueInfo& info, onnx::TypeProto* type) {
  auto* tt = type->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(info.dtype));
  if (!info.has_shape) return;
  auto* shape = tt->mutable_shape();
  for (const ir::Dim& d : info.dims) {
    auto* dim = shape->add_dim();
    if (d.known())
      dim->set_dim_value(d.value);
    else if (!d.param.empty())
      dim->set_dim_param(d.param);
  }
}

void set_value_info(const ir::Value& v, onnx::ValueInfoProto* vi) {
  vi->set_name(v.name());
  set_type(v.info(), vi->mutable_type());
}

Status check_tensor(const Tensor& t, const std::string& what) {
  if (!t.defined()) return invalid_argument(what + " has no value");
  if (t.dtype() == DType::kString || dtype_size(t.dtype()) == 0)
    return unsupported(what + ": " + dtype_name(t.dtype()) + " tensors cannot be exported");
  return Status::ok();
}

Status set_attribute(const std::string& name, const ir::Attribute& a, const std::string& where,
                     onnx::AttributeProto* ap) {
  ap->set_name(name);
  const std::string what = where + " attribute '" + name + "'";
  switch (a.type) {
    case ir::AttrType::kFloat:
      ap->set_type(onnx::AttributeProto::FLOAT);
      ap->set_f(a.f);
      break;
    case ir::AttrType::kInt:
      ap->set_type(onnx::AttributeProto::INT);
      ap->set_i(a.i);
      break;
    case ir::AttrType::kString:
      ap->set_type(onnx::AttributeProto::STRING);
      ap->set_s(a.s);
      break;
    case ir::AttrType::kTensor:
      KILN_RETURN_IF_ERROR(check_tensor(a.t, what));
      ap->set_type(onnx::AttributeProto::TENSOR);
      tensor_to_proto(a.t, "", ap->mutable_t());
      ap->mutable_t()->clear_name();
      break;
    case ir::AttrType::kTensors:
      ap->set_type(onnx::AttributeProto::TENSORS);
      for (const Tensor& t : a.tensors) {
        KILN_RETURN_IF_ERROR(check_tensor(t, what));
        auto* tp = ap->add_tensors();
        tensor_to_proto(t, "", tp);
        tp->clear_name();
      }
      break;
    case ir::AttrType::kFloats:
      ap->set_type(onnx::AttributeProto::FLOATS);
      for (float f : a.floats) ap->add_floats(f);
      break;
    case ir::AttrType::kInts:
      ap->set_type(onnx::AttributeProto::INTS);
      for (int64_t i : a.ints) ap->add_ints(i);
      break;
    case ir::AttrType::kStrings:
      ap->set_type(onnx::AttributeProto::STRINGS);
      for (const std::string& s : a.strings) ap->add_strings(s);
      break;
    case ir::AttrType::kGraph:
      return unsupported(what +
                         ": subgraph attributes (If / Loop / Scan bodies) are not kept by the "
                         "importer and cannot be exported");
  }
  return Status::ok();
}

// Where the bytes of external tensors go while the proto is built.
struct ExternalSink {
  int64_t threshold = -1;  // tensors of at least this many bytes go external; -1 none
  std::string location;    // relative file name written in the proto
  std::ofstream* out = nullptr;
  int64_t offset = 0;
};

Status add_initializer(const ir::Value& v, ExternalSink* sink, onnx::TensorProto* tp) {
  const Tensor& t = v.initializer();
  KILN_RETURN_IF_ERROR(check_tensor(t, "initializer '" + v.name() + "'"));
  const int64_t bytes = static_cast<int64_t>(t.nbytes());
  if (!sink || sink->threshold < 0 || bytes < sink->threshold || bytes == 0) {
    tensor_to_proto(t, v.name(), tp);
    return Status::ok();
  }
  tp->Clear();
  tp->set_name(v.name());
  tp->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) tp->add_dims(d);
  int64_t pad = (kExternalAlign - sink->offset % kExternalAlign) % kExternalAlign;
  if (pad) {
    static const char zeros[kExternalAlign] = {};
    sink->out->write(zeros, pad);
    sink->offset += pad;
  }
  sink->out->write(static_cast<const char*>(t.raw_data()), bytes);
  if (!*sink->out) return io_error("cannot write external data file '" + sink->location + "'");
  tp->set_data_location(onnx::TensorProto::EXTERNAL);
  auto kv = [&](const std::string& k, const std::string& val) {
    auto* e = tp->add_external_data();
    e->set_key(k);
    e->set_value(val);
  };
  kv("location", sink->location);
  kv("offset", std::to_string(sink->offset));
  kv("length", std::to_string(bytes));
  sink->offset += bytes;
  return Status::ok();
}

bool exported_initializer(const ir::Value& v, const ExportOptions& options) {
  return v.is_initializer() &&
         (options.keep_unused_initializers || !v.users().empty() || v.is_graph_output());
}

Expected<onnx::ModelProto> build(const ir::Graph& g, const ExportOptions& options,
                                 ExternalSink* sink) {
  onnx::ModelProto model;
  model.set_producer_name(options.producer_name);
  model.set_producer_version(options.producer_version);

  // Opsets: the graph's, plus any domain a node uses without one (version 1).
  std::map<std::string, int> opsets = g.opsets();
  for (ir::Node* n : g.nodes())
    if (!opsets.count(n->domain())) opsets[n->domain()] = n->domain().empty() ? 17 : 1;
  int onnx_opset = opsets.count("") ? opsets[""] : 1;
  model.set_ir_version(std::max(options.ir_version, ir_version_for_opset(onnx_opset)));
  for (const auto& [domain, version] : opsets) {
    auto* o = model.add_opset_import();
    o->set_domain(domain);
    o->set_version(version);
  }

  onnx::GraphProto* gp = model.mutable_graph();
  gp->set_name(g.name.empty() ? "kiln" : g.name);
  for (ir::Value* v : g.inputs()) set_value_info(*v, gp->add_input());
  for (ir::Value* v : g.initializers()) {
    if (!exported_initializer(*v, options)) continue;
    KILN_RETURN_IF_ERROR(add_initializer(*v, sink, gp->add_initializer()));
  }
  for (ir::Node* n : g.nodes()) {
    onnx::NodeProto* np = gp->add_node();
    np->set_name(n->name());
    np->set_op_type(n->op_type());
    if (!n->domain().empty()) np->set_domain(n->domain());
    for (ir::Value* v : n->inputs()) np->add_input(v ? v->name() : "");
    for (ir::Value* v : n->outputs()) np->add_output(v ? v->name() : "");
    for (const auto& [name, a] : n->attributes())
      KILN_RETURN_IF_ERROR(set_attribute(name, a, n->describe(), np->add_attribute()));
  }
  for (ir::Value* v : g.outputs()) set_value_info(*v, gp->add_output());
  if (options.write_value_info) {
    for (ir::Node* n : g.nodes())
      for (ir::Value* v : n->outputs())
        if (v && !v->is_graph_output() && v->info().dtype != DType::kUndefined)
          set_value_info(*v, gp->add_value_info());
  }
  return model;
}

Status write_file(const std::string& path, const std::string& tmp) {
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return io_error("cannot write '" + path + "': " + ec.message());
  }
  return Status::ok();
}

}  // namespace

Expected<onnx::ModelProto> to_model_proto(const ir::Graph& g, const ExportOptions& options) {
  return build(g, options, nullptr);
}

Status save_model(const ir::Graph& g, const std::string& path, const ExportOptions& options) {
  if (path.empty()) return invalid_argument("no output file name given");
  fs::path p(path);
  std::error_code ec;
  fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    return not_found("cannot write '" + path + "': folder '" + dir.string() + "' does not exist");
  if (fs::is_directory(p, ec)) return invalid_argument("'" + path + "' is a folder");

  ExternalSink sink;
  sink.threshold = options.external_threshold;
  if (sink.threshold < 0) {
    int64_t total = 0;
    for (ir::Value* v : g.initializers())
      if (exported_initializer(*v, options))
        total += static_cast<int64_t>(v->initializer().nbytes());
    for (ir::Node* n : g.nodes())
      for (const auto& [k, a] : n->attributes()) {
        if (a.type == ir::AttrType::kTensor && a.t.defined())
          total += static_cast<int64_t>(a.t.nbytes());
        for (const Tensor& t : a.tensors) total += static_cast<int64_t>(t.nbytes());
      }
    if (total > kInlineLimit) sink.threshold = 1024;
  }
  std::string ext_name =
      options.external_file.empty() ? p.filename().string() + ".data" : options.external_file;
  if (fs::path(ext_name).has_parent_path() || ext_name == "." || ext_name == "..")
    return invalid_argument("external data file '" + ext_name +
                            "' must be a plain file name (it is written beside the model)");
  sink.location = ext_name;
  const std::string ext_path = (dir / ext_name).string();
  const std::string ext_tmp = ext_path + ".kiln-tmp";
  std::ofstream ext;
  if (sink.threshold >= 0) {
    ext.open(ext_tmp, std::ios::binary | std::ios::trunc);
    if (!ext) return io_error("cannot write external data file '" + ext_path + "'");
    sink.out = &ext;
  }
  auto model = build(g, options, sink.threshold >= 0 ? &sink : nullptr);
  if (!model) {
    if (sink.out) fs::remove(ext_tmp, ec);
    return model.status().with_context(path);
  }
  if (model->ByteSizeLong() >= static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    if (sink.out) fs::remove(ext_tmp, ec);
    return invalid_argument(path +
                            ": the model is over 2 GiB even with its initializers in "
                            "external data (large tensor attributes?)");
  }
  const std::string tmp = path + ".kiln-tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f || !model->SerializeToOstream(&f) || !f.flush()) {
      fs::remove(tmp, ec);
      if (sink.out) fs::remove(ext_tmp, ec);
      return io_error("cannot write '" + path + "'");
    }
  }
  if (sink.out) {
    ext.close();
    if (!ext) {
      fs::remove(tmp, ec);
      fs::remove(ext_tmp, ec);
      return io_error("cannot write external data file '" + ext_path + "'");
    }
    if (sink.offset == 0) {
      fs::remove(ext_tmp, ec);  // nothing went external
    } else {
      KILN_RETURN_IF_ERROR(write_file(ext_path, ext_tmp));
    }
  }
  return write_file(path, tmp);
}

}  // namespace kiln::onnx_io
