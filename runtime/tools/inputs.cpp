// Feeds for `kiln run` and `kiln compare`: files, a folder, or seeded random data. See inputs.h.
#include "runtime/tools/inputs.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "runtime/cpu/executor.h"
#include "runtime/io/tensor_io.h"

namespace kiln::tools {

namespace {

namespace fs = std::filesystem;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Ops that pass integer values through unchanged (only their layout changes).
bool passes_values(const std::string& op) {
  static const std::set<std::string> kOps = {"Cast",    "Reshape",  "Unsqueeze", "Squeeze",
                                             "Flatten", "Identity", "Expand",    "Transpose"};
  return kOps.count(op) > 0;
}

// The constant tensor behind `v`: an initializer or a Constant node's `value`.
const Tensor* constant_of(const ir::Value* v) {
  if (!v) return nullptr;
  if (v->is_initializer()) return &v->initializer();
  const ir::Node* p = v->producer();
  if (p && p->op_type() == "Constant" && p->domain().empty()) {
    const ir::Attribute* a = p->attr("value");
    if (a && a->type == ir::AttrType::kTensor && a->t.defined()) return &a->t;
  }
  return nullptr;
}

// The size of the smallest constant table that `v` indexes through Gather (following ops that
// keep values), or -1 when it indexes none.
int64_t gather_bound(const ir::Value* v, int depth = 0) {
  if (depth > 8) return -1;
  int64_t best = -1;
  auto take = [&best](int64_t b) {
    if (b >= 0 && (best < 0 || b < best)) best = b;
  };
  for (const ir::Node* n : v->users()) {
    if (!n->domain().empty()) continue;
    if (n->op_type() == "Gather" && n->input(1) == v) {
      const Tensor* table = constant_of(n->input(0));
      if (!table || table->rank() == 0) continue;
      int64_t axis = 0;
      if (const ir::Attribute* a = n->attr("axis"); a && a->type == ir::AttrType::kInt) axis = a->i;
      if (axis < 0) axis += table->rank();
      if (axis >= 0 && axis < table->rank()) take(table->dim(static_cast<int>(axis)));
    } else if (passes_values(n->op_type()) && n->input(0) == v && n->output(0)) {
      take(gather_bound(n->output(0), depth + 1));
    }
  }
  return best;
}

bool name_has_mask(const std::string& name) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("mask") != std::string::npos;
}

bool split_pair(const std::string& s, std::string* key, std::string* value) {
  auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) return false;
  *key = s.substr(0, eq);
  *value = s.substr(eq + 1);
  return true;
}

}  // namespace

Status parse_input_args(const std::vector<std::string>& input_args,
                        const std::vector<std::string>& dim_args, InputSpec* spec) {
  for (const std::string& arg : input_args) {
    std::string name, file;
    if (!split_pair(arg, &name, &file))
      return invalid_argument("--input expects NAME=FILE, got '" + arg + "'");
    if (!spec->files.emplace(name, file).second)
      return invalid_argument("input '" + name + "' is given twice with --input");
  }
  for (const std::string& arg : dim_args) {
    std::string name, value;
    char* end = nullptr;
    if (split_pair(arg, &name, &value)) {
      long long v = std::strtoll(value.c_str(), &end, 10);
      if (*end == '\0' && v >= 0) {
        spec->dims[name] = v;
        continue;
      }
    }
    return invalid_argument("--dim expects NAME=VALUE with VALUE a non-negative integer, got '" +
                            arg + "'");
  }
  return Status::ok();
}

Expected<Tensor> random_input(const ir::Value& in, const std::map<std::string, int64_t>& dims,
                              uint64_t seed, bool* usage_error) {
  const ir::ValueInfo& info = in.info();
  const std::string what = "input '" + in.name() + "'";
  if (info.dtype == DType::kUndefined)
    return invalid_argument(what + " has no declared dtype; feed it with --input");
  if (!is_storable(info.dtype))
    return unsupported(what + " has dtype " + dtype_name(info.dtype) +
                       ", which --random cannot make");
  if (!info.has_shape)
    return invalid_argument(what + " has no declared shape; feed it with --input");
  Shape shape;
  for (size_t k = 0; k < info.dims.size(); ++k) {
    const ir::Dim& d = info.dims[k];
    if (d.known()) {
      shape.push_back(d.value);
    } else if (!d.param.empty() && dims.count(d.param)) {
      shape.push_back(dims.at(d.param));
    } else {
      if (usage_error) *usage_error = true;
      return invalid_argument(d.param.empty()
                                  ? what + ": dimension " + std::to_string(k) +
                                        " is unknown and unnamed; feed the "
                                        "input with --input"
                                  : what + " has the symbolic dimension '" + d.param +
                                        "'; give its value with --dim " + d.param + "=N");
    }
  }
  auto created = Tensor::create(info.dtype, shape);
  if (!created) return created.status().with_context(what + " (--random)");
  Tensor t = std::move(*created);
  uint64_t state = seed ^ fnv1a(in.name());
  const int64_t n = t.numel();
  if (is_float(t.dtype())) {
    for (int64_t i = 0; i < n; ++i) {
      double u = static_cast<double>(splitmix64(state) >> 40) * (1.0 / (1ull << 24));  // [0, 1)
      t.set_from_double(i, 2.0 * u - 1.0);
    }
  } else if (t.dtype() == DType::kBool) {
    for (int64_t i = 0; i < n; ++i)
      t.set_from_double(i, static_cast<double>(splitmix64(state) >> 63));
  } else {
    int64_t bound = gather_bound(&in);
    if (bound < 0) bound = name_has_mask(in.name()) ? 2 : 10;
    if (bound < 1) bound = 1;
    for (int64_t i = 0; i < n; ++i)
      t.set_from_double(i, static_cast<double>(splitmix64(state) % static_cast<uint64_t>(bound)));
  }
  return t;
}

Expected<GatheredInputs> gather_inputs(const Session& s, const InputSpec& spec, bool* usage_error) {
  if (usage_error) *usage_error = false;
  if (!spec.dir.empty()) {
    std::error_code ec;
    if (!fs::is_directory(spec.dir, ec))
      return invalid_argument("--inputs: '" + spec.dir + "' is not a folder");
  }
  std::set<std::string> input_names;
  for (const auto& in : s.inputs()) input_names.insert(in.name);
  for (const auto& [name, file] : spec.files) {
    if (!input_names.count(name)) {
      std::string names;
      for (const auto& in : s.inputs()) names += (names.empty() ? "" : ", ") + in.name;
      return invalid_argument("--input: the model has no input '" + name +
                              "' (inputs: " + (names.empty() ? "none" : names) + ")");
    }
  }
  GatheredInputs g;
  std::set<std::string> used_dims;
  for (const auto& in : s.inputs())
    for (const auto& d : in.info.dims)
      if (!d.known() && !d.param.empty()) used_dims.insert(d.param);
  for (const auto& [name, v] : spec.dims)
    if (!used_dims.count(name))
      g.notes.push_back("--dim " + name + " is not a symbolic dimension of any input");

  // Files first: their shapes also fix symbolic dimensions that --dim does not give.
  std::map<std::string, int64_t> dims = spec.dims;
  for (const auto& in : s.inputs()) {
    const ir::Value* value = s.graph().find_value(in.name);
    std::string file;
    if (auto it = spec.files.find(in.name); it != spec.files.end()) {
      file = it->second;
    } else if (!spec.dir.empty()) {
      for (const char* ext : {".npy", ".pb"}) {
        std::string p = (fs::path(spec.dir) / (io::tensor_file_stem(in.name) + ext)).string();
        std::error_code ec;
        if (fs::exists(p, ec)) {
          file = p;
          break;
        }
      }
    }
    if (file.empty()) continue;
    auto t = io::load_tensor_file(file);
    if (!t) return t.status().with_context("input '" + in.name + "'");
    if (value) {
      Status st = cpu::check_feed(*value, *t);
      if (!st.is_ok()) return Status(st.code(), st.message() + " (from '" + file + "')");
    }
    if (in.info.has_shape && in.info.dims.size() == static_cast<size_t>(t->rank()))
      for (size_t k = 0; k < in.info.dims.size(); ++k)
        if (!in.info.dims[k].known() && !in.info.dims[k].param.empty())
          dims.emplace(in.info.dims[k].param, t->shape()[k]);
    g.feeds[in.name] = std::move(*t);
    g.sources[in.name] = file;
  }
  std::vector<std::string> missing;
  for (const auto& in : s.inputs()) {
    if (g.feeds.count(in.name)) continue;
    const ir::Value* value = s.graph().find_value(in.name);
    if (spec.random && value) {
      auto t = random_input(*value, dims, spec.seed, usage_error);
      if (!t) return t.status();
      g.feeds[in.name] = std::move(*t);
      g.sources[in.name] = "random";
    } else {
      missing.push_back(in.name);
    }
  }
  if (!missing.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "'" : ", '") + m + "'";
    std::string where =
        spec.dir.empty() ? "" : " (not found in '" + spec.dir + "' as NAME.npy or NAME.pb)";
    return invalid_argument(std::string("no value for input") + (missing.size() > 1 ? "s " : " ") +
                            names + where + "; give --input NAME=FILE, --inputs DIR or --random");
  }
  return g;
}

}  // namespace kiln::tools
