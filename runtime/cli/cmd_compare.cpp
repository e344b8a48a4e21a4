// kiln compare MODEL: runs a model on a device and on a reference path (kiln's CPU executor or
// onnxruntime in a Python subprocess) with the same inputs, and reports per output how far the
// two are apart. With --per-node (CPU reference only) it keeps every intermediate value of both
// runs and names the first node whose output leaves the tolerance, with its inputs' errors.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/cli/args.h"
#include "runtime/cli/cli_util.h"
#include "runtime/cli/commands.h"
#include "runtime/io/tensor_io.h"
#include "runtime/session.h"
#include "runtime/tools/compare.h"
#include "runtime/tools/inputs.h"

extern char** environ;

namespace kiln::cli {

namespace {

namespace fs = std::filesystem;

const char* kHelp =
    "usage: kiln compare MODEL [options]\n"
    "Runs a model on a device and on a reference path with the same inputs and compares the\n"
    "outputs: max abs / max rel error, cosine similarity and argmax agreement over the last\n"
    "axis (float outputs), exact equality (integer and bool outputs), and OK or MISMATCH\n"
    "against the tolerance |device - reference| <= atol + rtol * |reference|.\n"
    "\n"
    "  --device D          the path under test: auto (default), cpu, opencl[:N], vulkan[:N]\n"
    "  --against R         the reference: cpu (kiln's CPU executor, default) or ort\n"
    "                      (onnxruntime's CPUExecutionProvider, graph optimizations off, run by\n"
    "                      $KILN_PYTHON, else build/venv/bin/python, else python3)\n"
    "  --input NAME=FILE   feed input NAME from a .npy or TensorProto .pb file (repeatable)\n"
    "  --inputs DIR        feed each input from DIR/NAME.npy or DIR/NAME.pb\n"
    "  --random            make inputs not given otherwise (as `kiln run --random`)\n"
    "  --seed N            seed for --random (default 0)\n"
    "  --dim NAME=VALUE    value of a symbolic dimension for --random (repeatable)\n"
    "  --against-model M   run model M (not MODEL) on the reference path, with the same inputs,\n"
    "                      and match outputs by name: e.g. an int8 model against its fp32\n"
    "                      original\n"
    "  --min-cosine C      judge float outputs by cosine similarity >= C instead of atol/rtol\n"
    "  --per-node          (with --against cpu) compare every node's outputs and name the first\n"
    "                      node whose output leaves the tolerance, with its inputs' errors\n"
    "  --atol A            absolute tolerance (default 1e-4)\n"
    "  --rtol R            relative tolerance (default 1e-3)\n"
    "  --threads N         CPU threads (default: one per hardware thread)\n"
    "  --level N           graph optimization level: 0 none, 1 basic (default), 2 extended,\n"
    "                      99 all (the ONNX Runtime meanings)\n"
    "  --precision P       fp32 (default) or fp16: float16 weights and activations\n"
    "  --json FILE         write the results as JSON\n"
    "Exit status: 0 all outputs within tolerance, 1 a mismatch or a failure, 2 usage error.\n";

int fail(const Failure& f) {
  return report_failure("compare", f);
}

bool parse_tolerance(const Args& args, const std::string& name, double def, double* out,
                     std::string* error) {
  *out = def;
  if (!args.has(name)) return true;
  const std::string v = args.get(name);
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(x) || x < 0) {
    *error = "--" + name + " expects a non-negative number, got '" + v + "'";
    return false;
  }
  *out = x;
  return true;
}

std::string fmt(double v, const char* spec = "%.3g") {
  if (std::isnan(v)) return "-";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), spec, v);
  return buf;
}

std::string dims_to_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// --- onnxruntime in a subprocess ------------------------------------------------------------

const char* kOrtScript = R"PY(
import json, sys
try:
    import numpy as np
    import onnxruntime as ort
except Exception as e:
    sys.stderr.write("cannot import onnxruntime: %s\n" % e)
    sys.exit(3)
work = sys.argv[1]
with open(work + "/manifest.json") as f:
    m = json.load(f)
try:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if m["threads"] > 0:
        so.intra_op_num_threads = m["threads"]
    sess = ort.InferenceSession(m["model"], so, providers=["CPUExecutionProvider"])
    feeds = {name: np.load(work + "/" + file) for name, file in m["inputs"]}
    outs = sess.run(m["outputs"], feeds)
    for i, v in enumerate(outs):
        np.save(work + "/out_%d.npy" % i, np.asarray(v))
except Exception as e:
    sys.stderr.write("onnxruntime failed: %s: %s\n" % (type(e).__name__, e))
    sys.exit(4)
)PY";

bool is_executable(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

// The python for --against ort: $KILN_PYTHON, the build's venv, or python3 from PATH.
std::string find_python() {
  if (const char* env = std::getenv("KILN_PYTHON"); env && *env) return env;
  std::vector<fs::path> candidates;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    candidates.push_back(dir / "venv" / "bin" / "python");
    candidates.push_back(dir.parent_path() / "build" / "venv" / "bin" / "python");
  }
  candidates.push_back(fs::path(KILN_SOURCE_DIR) / "build" / "venv" / "bin" / "python");
  for (const fs::path& p : candidates)
    if (is_executable(p)) return p.string();
  return "python3";
}

std::string read_text(const fs::path& p, size_t limit = 4000) {
  std::ifstream f(p);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (s.size() > limit) s = "..." + s.substr(s.size() - limit);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Runs `python script dir`, stdout and stderr into dir/log.txt. Returns the exit status, or -1
// when it could not start / died from a signal.
int run_python(const std::string& python, const fs::path& script, const fs::path& dir,
               std::string* error) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string log = (dir / "log.txt").string();
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::string a0 = python, a1 = script.string(), a2 = dir.string();
  char* argv[] = {a0.data(), a1.data(), a2.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, python.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    *error = "cannot start '" + python + "': " + std::strerror(rc);
    return -1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      *error = "waiting for '" + python + "' failed";
      return -1;
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  *error = "'" + python + "' died from signal " + std::to_string(WTERMSIG(status));
  return -1;
}

Expected<std::vector<Tensor>> run_onnxruntime(const std::string& model_path, const Session& s,
                                              const std::map<std::string, Tensor>& feeds,
                                              int threads) {
  TempDir tmp("kiln-compare");
  if (tmp.path().empty()) return io_error("cannot create a temporary folder");
  nlohmann::json m;
  std::error_code ec;
  m["model"] = fs::absolute(model_path, ec).string();
  m["threads"] = threads;
  m["inputs"] = nlohmann::json::array();
  int k = 0;
  for (const auto& [name, t] : feeds) {
    if (t.dtype() == DType::kBFloat16)
      return unsupported("input '" + name + "' is bfloat16, which numpy (and so --against ort) " +
                         "cannot carry");
    std::string file = "in_" + std::to_string(k++) + ".npy";
    Status st = io::save_npy(t, (tmp.path() / file).string());
    if (!st.is_ok()) return st.with_context("input '" + name + "'");
    m["inputs"].push_back({name, file});
  }
  m["outputs"] = nlohmann::json::array();
  for (const auto& o : s.outputs()) m["outputs"].push_back(o.name);
  {
    std::ofstream f(tmp.path() / "manifest.json");
    f << m.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::ofstream g(tmp.path() / "run_ort.py");
    g << kOrtScript;
    if (!f || !g) return io_error("cannot write to the temporary folder " + tmp.path().string());
  }
  const std::string python = find_python();
  std::string error;
  int rc = run_python(python, tmp.path() / "run_ort.py", tmp.path(), &error);
  const std::string log = read_text(tmp.path() / "log.txt");
  if (rc < 0) return runtime_error("--against ort: " + error);
  if (rc == 3)
    return unsupported("--against ort: onnxruntime is not importable by " + python + " (" + log +
                       "); install it (pip install onnxruntime numpy) or point KILN_PYTHON at " +
                       "a python that has it");
  if (rc != 0)
    return runtime_error("--against ort: " + python + " exited with status " + std::to_string(rc) +
                         (log.empty() ? "" : ": " + log));
  std::vector<Tensor> outs;
  for (size_t i = 0; i < s.outputs().size(); ++i) {
    auto t = io::load_tensor_file((tmp.path() / ("out_" + std::to_string(i) + ".npy")).string());
    if (!t) return t.status().with_context("--against ort: output '" + s.outputs()[i].name + "'");
    outs.push_back(std::move(*t));
  }
  return outs;
}

// --- per-node -------------------------------------------------------------------------------

struct Recorded {
  std::vector<const ir::Node*> order;    // nodes in the order they ran
  std::map<std::string, Tensor> values;  // value name -> host copy
};

Session::NodeObserver recorder(Recorded* r) {
  return [r](const ir::Node& n, const std::vector<Tensor>& outs) {
    r->order.push_back(&n);
    for (size_t o = 0; o < outs.size() && o < n.outputs().size(); ++o) {
      const ir::Value* v = n.outputs()[o];
      if (v && outs[o].defined()) r->values[v->name()] = outs[o].clone();
    }
  };
}

struct InputDiff {
  std::string name;
  std::string kind;  // "value", "graph input", "constant", "missing"
  tools::TensorDiff diff;
};

struct DivergentNode {
  std::string name, op, output;
  tools::TensorDiff diff;
  std::vector<InputDiff> inputs;
};

struct PerNodeResult {
  int compared = 0;  // node outputs compared
  std::optional<DivergentNode> first;
};

PerNodeResult find_first_divergent(const Recorded& dev, const Recorded& ref,
                                   const std::map<std::string, Tensor>& feeds, double atol,
                                   double rtol) {
  PerNodeResult r;
  for (const ir::Node* n : dev.order) {
    for (const ir::Value* v : n->outputs()) {
      if (!v) continue;
      auto a = dev.values.find(v->name());
      auto b = ref.values.find(v->name());
      if (a == dev.values.end() || b == ref.values.end()) continue;
      ++r.compared;
      tools::TensorDiff d = tools::diff_tensors(a->second, b->second, atol, rtol);
      if (d.ok) continue;
      DivergentNode dn;
      dn.name = n->name();
      dn.op = n->domain().empty() ? n->op_type() : n->domain() + "." + n->op_type();
      dn.output = v->name();
      dn.diff = d;
      for (const ir::Value* in : n->inputs()) {
        if (!in) continue;
        InputDiff id;
        id.name = in->name();
        auto x = dev.values.find(in->name());
        auto y = ref.values.find(in->name());
        if (in->is_initializer()) {
          id.kind = "constant";
        } else if (feeds.count(in->name())) {
          id.kind = "graph input";
        } else if (x != dev.values.end() && y != ref.values.end()) {
          id.kind = "value";
          id.diff = tools::diff_tensors(x->second, y->second, atol, rtol);
        } else {
          id.kind = "missing";
        }
        dn.inputs.push_back(std::move(id));
      }
      r.first = std::move(dn);
      return r;
    }
  }
  return r;
}

}  // namespace

int cmd_compare(int argc, char** argv) {
  Args args({"device", "level", "precision", "against", "against-model", "min-cosine", "input",
             "inputs", "seed", "dim", "atol", "rtol", "json", "threads"},
            {"random", "per-node", "help"});
  if (!args.parse(argc, argv, 2)) return fail({kExitUsage, args.error()});
  if (args.flag("help")) {
    std::printf("%s", kHelp);
    return kExitOk;
  }
  std::string model_path, device;
  if (auto f = model_and_device(args, &model_path, &device)) return fail(*f);
  const std::string against = args.get("against", "cpu");
  if (against != "cpu" && against != "ort")
    return fail({kExitUsage, "--against expects cpu or ort, got '" + against + "'"});
  const bool per_node = args.flag("per-node");
  // --against-model: the reference runs another model (e.g. the fp32 original of a quantized
  // model) on the same inputs; outputs are matched by name.
  const std::string ref_model = args.get("against-model", model_path);
  const bool other_model = args.has("against-model");
  if (per_node && other_model)
    return fail({kExitUsage,
                 "--per-node compares one model on two paths; it does not go with "
                 "--against-model"});
  double min_cosine = NAN;
  if (args.has("min-cosine")) {
    std::string err;
    if (!parse_tolerance(args, "min-cosine", 0, &min_cosine, &err) || min_cosine > 1)
      return fail({kExitUsage, "--min-cosine expects a number in [0, 1]"});
  }
  if (per_node && against != "cpu")
    return fail({kExitUsage,
                 "--per-node needs --against cpu (onnxruntime does not show its "
                 "intermediate values)"});
  long long seed = 0, threads = 0;
  if (!args.get_int("seed", 0, &seed) || !args.get_int("threads", 0, &threads))
    return fail({kExitUsage, args.error()});
  if (threads < 0 || threads > 4096)
    return fail({kExitUsage, "--threads must be between 0 and 4096"});
  double atol = 0, rtol = 0;
  std::string error;
  if (!parse_tolerance(args, "atol", 1e-4, &atol, &error) ||
      !parse_tolerance(args, "rtol", 1e-3, &rtol, &error))
    return fail({kExitUsage, error});
  tools::InputSpec spec;
  if (Status st = tools::parse_input_args(args.all("input"), args.all("dim"), &spec); !st.is_ok())
    return fail({kExitUsage, st.message()});
  spec.dir = args.get("inputs");
  spec.random = args.flag("random");
  spec.seed = static_cast<uint64_t>(seed);
  if (auto f = check_inputs_folder(spec.dir)) return fail(*f);

  // Sessions.
  SessionOptions so;
  so.device = device;
  so.threads = static_cast<int>(threads);
  if (auto f = optimization_level(args, &so.optimization_level)) return fail(*f);
  if (auto f = precision(args, &so.precision)) return fail(*f);
  auto dev = Session::load(model_path, so);
  if (!dev) return fail({kExitFailure, dev.status().message()});
  Session& ds = **dev;
  std::unique_ptr<Session> ref;
  if (against == "cpu") {
    SessionOptions ro = so;
    ro.device = "cpu";
    auto r = Session::load(ref_model, ro);
    if (!r) return fail({kExitFailure, r.status().message()});
    ref = std::move(*r);
  }

  // Inputs.
  bool usage_error = false;
  auto gathered = tools::gather_inputs(ds, spec, &usage_error);
  if (!gathered)
    return fail({usage_error ? kExitUsage : kExitFailure, gathered.status().message()});
  for (const std::string& note : gathered->notes)
    std::fprintf(stderr, "kiln compare: note: %s\n", note.c_str());
  const std::map<std::string, Tensor>& feeds = gathered->feeds;

  // Runs.
  Recorded dev_rec, ref_rec;
  auto dev_out = per_node ? ds.run(feeds, recorder(&dev_rec)) : ds.run(feeds);
  if (!dev_out)
    return fail({kExitFailure, "on " + ds.device() + ": " + dev_out.status().message()});
  Expected<std::vector<Tensor>> ref_out = std::vector<Tensor>{};
  if (ref)
    ref_out = per_node ? ref->run(feeds, recorder(&ref_rec)) : ref->run(feeds);
  else
    ref_out = run_onnxruntime(ref_model, ds, feeds, static_cast<int>(threads));
  if (!ref_out)
    return fail({kExitFailure, (ref ? "on the CPU reference: " : "") + ref_out.status().message()});

  // Outputs.
  struct Row {
    std::string name, dtype, shape;
    tools::TensorDiff diff;
  };
  std::vector<Row> rows;
  std::map<std::string, const Tensor*> ref_by_name;
  const std::vector<IoInfo>& ref_names = ref ? ref->outputs() : ds.outputs();
  for (size_t i = 0; i < ref_names.size() && i < ref_out->size(); ++i)
    ref_by_name[ref_names[i].name] = &(*ref_out)[i];
  bool all_ok = true;
  for (size_t i = 0; i < ds.outputs().size() && i < dev_out->size(); ++i) {
    Row row;
    row.name = ds.outputs()[i].name;
    const Tensor& a = (*dev_out)[i];
    row.dtype = dtype_name(a.dtype());
    row.shape = dims_to_string(a.shape());
    auto it = ref_by_name.find(row.name);
    if (it == ref_by_name.end()) {
      row.diff.ok = row.diff.comparable = false;
      row.diff.message = "the reference has no output '" + row.name + "'";
      row.diff.max_abs = row.diff.max_rel = row.diff.cosine = row.diff.argmax_agreement = NAN;
    } else {
      row.diff = tools::diff_tensors(a, *it->second, atol, rtol);
      // --min-cosine judges float outputs by their cosine similarity instead.
      if (!std::isnan(min_cosine) && row.diff.comparable && row.diff.is_float) {
        row.diff.ok = row.diff.cosine >= min_cosine;
        row.diff.message = row.diff.ok ? ""
                                       : "cosine similarity " + fmt(row.diff.cosine, "%.6f") +
                                             " is below --min-cosine " + fmt(min_cosine);
      }
    }
    all_ok = all_ok && row.diff.ok;
    rows.push_back(std::move(row));
  }
  PerNodeResult pn;
  if (per_node) pn = find_first_divergent(dev_rec, ref_rec, feeds, atol, rtol);

  // Table.
  std::printf("model: %s\n", model_path.c_str());
  if (other_model) std::printf("reference model: %s\n", ref_model.c_str());
  if (std::isnan(min_cosine))
    std::printf("device: %s  against: %s  (atol %g, rtol %g)\n", ds.device().c_str(),
                against == "cpu" ? "cpu (kiln reference)" : "onnxruntime", atol, rtol);
  else
    std::printf("device: %s  against: %s  (float outputs: cosine >= %g)\n", ds.device().c_str(),
                against == "cpu" ? "cpu (kiln reference)" : "onnxruntime", min_cosine);
  const std::vector<std::string> head = {"output", "dtype",  "shape", "max_abs", "max_rel",
                                         "cosine", "argmax", "equal", "result"};
  std::vector<std::vector<std::string>> cells;
  for (const Row& r : rows) {
    const tools::TensorDiff& d = r.diff;
    cells.push_back({r.name, r.dtype, r.shape, d.comparable ? fmt(d.max_abs) : "-",
                     d.comparable ? fmt(d.max_rel) : "-", fmt(d.cosine, "%.9f"),
                     fmt(d.argmax_agreement, "%.4f"),
                     d.comparable ? std::to_string(d.equal) + "/" + std::to_string(d.count) : "-",
                     d.ok ? "OK" : "MISMATCH"});
  }
  std::vector<size_t> width(head.size());
  for (size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& row : cells) width[c] = std::max(width[c], row[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  };
  print_row(head);
  for (const auto& row : cells) print_row(row);
  for (const Row& r : rows)
    if (!r.diff.ok) std::printf("  %s: %s\n", r.name.c_str(), r.diff.message.c_str());
  if (per_node) {
    if (!pn.first) {
      std::printf("per-node: all %d node outputs within tolerance\n", pn.compared);
    } else {
      const DivergentNode& d = *pn.first;
      std::printf("first divergent node: '%s' (%s), output '%s': max_abs %s  max_rel %s  (%s)\n",
                  d.name.c_str(), d.op.c_str(), d.output.c_str(), fmt(d.diff.max_abs).c_str(),
                  fmt(d.diff.max_rel).c_str(), d.diff.message.c_str());
      bool inputs_ok = true;
      for (const InputDiff& in : d.inputs) {
        if (in.kind == "value") {
          std::printf("  input '%s': max_abs %s  max_rel %s  %s\n", in.name.c_str(),
                      fmt(in.diff.max_abs).c_str(), fmt(in.diff.max_rel).c_str(),
                      in.diff.ok ? "(within tolerance)" : "(outside tolerance)");
          inputs_ok = inputs_ok && in.diff.ok;
        } else {
          std::printf("  input '%s': %s\n", in.name.c_str(),
                      in.kind == "missing" ? "not recorded on both paths"
                                           : (in.kind + ", identical on both paths").c_str());
        }
      }
      std::printf("  %s\n", inputs_ok ? "its inputs agree within tolerance: this node diverges"
                                      : "some inputs already differ (see above)");
    }
  }
  int bad = 0;
  for (const Row& r : rows) bad += r.diff.ok ? 0 : 1;
  if (all_ok)
    std::printf("OK: all %zu outputs within tolerance\n", rows.size());
  else
    std::printf("MISMATCH: %d of %zu outputs outside tolerance\n", bad, rows.size());

  if (args.has("json")) {
    nlohmann::json j;
    j["ok"] = all_ok;
    j["model"] = model_path;
    j["device"] = ds.device();
    j["against"] = against;
    j["reference_model"] = ref_model;
    j["min_cosine"] = number_or_null(min_cosine);
    j["atol"] = atol;
    j["rtol"] = rtol;
    j["outputs"] = nlohmann::json::array();
    for (const Row& r : rows) {
      const tools::TensorDiff& d = r.diff;
      j["outputs"].push_back({{"name", r.name},
                              {"dtype", r.dtype},
                              {"max_abs", number_or_null(d.max_abs)},
                              {"max_rel", number_or_null(d.max_rel)},
                              {"cosine", number_or_null(d.cosine)},
                              {"argmax_agreement", number_or_null(d.argmax_agreement)},
                              {"equal", d.equal},
                              {"count", d.count},
                              {"mismatches", d.mismatches},
                              {"ok", d.ok},
                              {"message", d.message}});
    }
    if (pn.first) {
      const DivergentNode& d = *pn.first;
      nlohmann::json ins = nlohmann::json::array();
      for (const InputDiff& in : d.inputs) {
        nlohmann::json ji = {{"name", in.name}, {"kind", in.kind}};
        if (in.kind == "value") {
          ji["max_abs"] = number_or_null(in.diff.max_abs);
          ji["max_rel"] = number_or_null(in.diff.max_rel);
          ji["ok"] = in.diff.ok;
        } else {
          ji["max_abs"] = in.kind == "missing" ? nlohmann::json(nullptr) : nlohmann::json(0.0);
          ji["max_rel"] = in.kind == "missing" ? nlohmann::json(nullptr) : nlohmann::json(0.0);
          ji["ok"] = in.kind != "missing";
        }
        ins.push_back(ji);
      }
      j["first_divergent_node"] = {{"name", d.name},
                                   {"op", d.op},
                                   {"output", d.output},
                                   {"max_abs", number_or_null(d.diff.max_abs)},
                                   {"max_rel", number_or_null(d.diff.max_rel)},
                                   {"inputs", ins}};
    } else {
      j["first_divergent_node"] = nullptr;
    }
    if (per_node) j["nodes_compared"] = pn.compared;
    std::ofstream f(args.get("json"));
    f << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    f.close();
    if (!f) return fail({kExitFailure, "cannot write the JSON file '" + args.get("json") + "'"});
  }
  return all_ok ? kExitOk : kExitFailure;
}

}  // namespace kiln::cli
