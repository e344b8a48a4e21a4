#include "runtime/tools/conformance.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "graph/onnx/importer.h"
#include "graph/onnx/tensor_proto.h"
#include "runtime/session.h"

namespace kiln::tools {

namespace fs = std::filesystem;

const char* case_status_name(CaseStatus s) {
  switch (s) {
    case CaseStatus::kPass:
      return "pass";
    case CaseStatus::kFail:
      return "fail";
    case CaseStatus::kUnsupported:
      return "unsupported";
  }
  return "?";
}

Expected<std::vector<std::string>> find_cases(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return not_found("conformance folder '" + dir + "' does not exist");
  if (fs::exists(fs::path(dir) / "model.onnx", ec)) return std::vector<std::string>{dir};
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  if (out.empty()) return not_found("no test cases (folders with model.onnx) under '" + dir + "'");
  return out;
}

Comparison compare_tensors(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  Comparison c;
  if (actual.dtype() != expected.dtype()) {
    c.ok = false;
    c.message = std::string("dtype ") + dtype_name(actual.dtype()) + ", expected " +
                dtype_name(expected.dtype());
    return c;
  }
  if (actual.shape() != expected.shape()) {
    c.ok = false;
    c.message = "shape " + shape_to_string(actual.shape()) + ", expected " +
                shape_to_string(expected.shape());
    return c;
  }
  int64_t bad = 0, first_bad = -1;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    double a = actual.get_as_double(i), e = expected.get_as_double(i);
    if (std::isnan(a) && std::isnan(e)) continue;
    if (std::isinf(a) || std::isinf(e)) {
      if (a != e) {
        ++bad;
        if (first_bad < 0) first_bad = i;
        c.max_abs = INFINITY;
      }
      continue;
    }
    double d = std::fabs(a - e);
    if (std::isnan(d)) d = INFINITY;
    c.max_abs = std::max(c.max_abs, d);
    if (e != 0) c.max_rel = std::max(c.max_rel, d / std::fabs(e));
    if (!(d <= atol + rtol * std::fabs(e))) {
      ++bad;
      if (first_bad < 0) first_bad = i;
    }
  }
  if (bad) {
    c.ok = false;
    std::ostringstream os;
    os << bad << " of " << actual.numel() << " values differ; first at index " << first_bad << ": "
       << actual.get_as_double(first_bad) << " vs expected " << expected.get_as_double(first_bad)
       << " (max abs err " << c.max_abs << ")";
    c.message = os.str();
  }
  return c;
}

namespace {

// numpy has no bfloat16, so the onnx test data stores bfloat16 tensors as uint16 bit patterns.
// Reinterpret such a tensor as bfloat16 when the other side expects bfloat16.
Tensor as_bfloat16_if_bits(const Tensor& t, DType wanted) {
  if (wanted == DType::kBFloat16 && t.dtype() == DType::kUInt16) {
    Tensor r = Tensor::create(DType::kBFloat16, t.shape()).value();
    if (t.nbytes()) std::memcpy(r.raw_data(), t.raw_data(), t.nbytes());
    return r;
  }
  return t;
}

std::vector<std::string> sorted_pb(const fs::path& dir, const std::string& prefix) {
  std::vector<std::pair<int, std::string>> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) == 0 && e.path().extension() == ".pb") {
      int idx = std::atoi(n.substr(prefix.size()).c_str());
      files.push_back({idx, e.path().string()});
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (auto& f : files) out.push_back(f.second);
  return out;
}

}  // namespace

CaseResult run_case(const std::string& case_dir, const ConformanceOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  CaseResult r;
  r.name = fs::path(case_dir).filename().string();
  auto finish = [&](CaseStatus s, const std::string& msg) {
    r.status = s;
    r.message = msg;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  };
  SessionOptions so;
  so.device = options.device;
  so.threads = options.threads;
  so.optimization_level = 0;
  const std::string model_path = (fs::path(case_dir) / "model.onnx").string();
  auto session = Session::load(model_path, so);
  if (!session) {
    // Still name the case's ops (for per-op totals) when the model itself loads.
    onnx_io::ImportOptions quick;
    quick.run_checker = false;
    quick.infer_shapes = false;
    if (auto m = onnx_io::load_model(model_path, quick)) {
      std::set<std::string> ops;
      for (const ir::Node* n : m->graph->nodes())
        ops.insert(n->domain().empty() ? n->op_type() : n->domain() + "." + n->op_type());
      r.ops.assign(ops.begin(), ops.end());
    }
    const Status& st = session.status();
    return finish(
        st.code() == StatusCode::kUnsupported ? CaseStatus::kUnsupported : CaseStatus::kFail,
        st.to_string());
  }
  Session& s = **session;
  std::set<std::string> ops;
  for (const ir::Node* n : s.graph().nodes())
    ops.insert(n->domain().empty() ? n->op_type() : n->domain() + "." + n->op_type());
  r.ops.assign(ops.begin(), ops.end());

  std::vector<fs::path> sets;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(case_dir, ec))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
      sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return finish(CaseStatus::kFail, "no test_data_set_* folder");

  for (const auto& set : sets) {
    auto ins = sorted_pb(set, "input_");
    auto outs = sorted_pb(set, "output_");
    std::map<std::string, Tensor> feeds;
    // Input files map to the graph inputs in order (initializer-backed inputs excluded).
    if (ins.size() > s.inputs().size())
      return finish(CaseStatus::kFail, "more input files than graph inputs");
    for (size_t i = 0; i < ins.size(); ++i) {
      auto t = onnx_io::read_tensor_pb(ins[i]);
      if (!t)
        return finish(
            CaseStatus::kUnsupported,
            "input " + std::to_string(i) + " is not a plain tensor: " + t.status().message());
      feeds[s.inputs()[i].name] = as_bfloat16_if_bits(*t, s.inputs()[i].info.dtype);
    }
    auto result = s.run(feeds);
    if (!result) {
      const Status& st = result.status();
      return finish(
          st.code() == StatusCode::kUnsupported ? CaseStatus::kUnsupported : CaseStatus::kFail,
          st.to_string());
    }
    if (outs.size() != result->size())
      return finish(CaseStatus::kFail, "model has " + std::to_string(result->size()) +
                                           " outputs but the case expects " +
                                           std::to_string(outs.size()));
    for (size_t i = 0; i < outs.size(); ++i) {
      auto expected = onnx_io::read_tensor_pb(outs[i]);
      if (!expected)
        return finish(CaseStatus::kUnsupported,
                      "expected output " + std::to_string(i) + " is not a plain tensor");
      Tensor want = as_bfloat16_if_bits(*expected, (*result)[i].dtype());
      Comparison c = compare_tensors((*result)[i], want, options.rtol, options.atol);
      r.max_abs_err = std::max(r.max_abs_err, c.max_abs);
      r.max_rel_err = std::max(r.max_rel_err, c.max_rel);
      if (!c.ok)
        return finish(CaseStatus::kFail, set.filename().string() + " output '" +
                                             s.outputs()[i].name + "': " + c.message);
    }
  }
  return finish(CaseStatus::kPass, "");
}

Expected<std::map<std::string, std::string>> read_expectations(const std::string& path) {
  std::ifstream f(path);
  if (!f) return not_found("cannot open expectations file '" + path + "'");
  std::map<std::string, std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    auto hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    std::istringstream is(line);
    std::string name;
    if (!(is >> name)) continue;
    std::string reason;
    std::getline(is, reason);
    reason.erase(0, reason.find_first_not_of(" \t"));
    out[name] = reason;
  }
  return out;
}

}  // namespace kiln::tools
