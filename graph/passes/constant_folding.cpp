// Constant folding (level 1): a deterministic node whose inputs are all constants is run once on
// the CPU reference kernel and replaced by initializers. Constant nodes become initializers.
// Outputs bigger than a cap stay nodes (so ConstantOfShape / Expand / Tile cannot blow up the
// model), a kernel error leaves the node in place (it may fail at run time, not at load), and
// nodes producing graph outputs are kept, as in ONNX Runtime.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "graph/passes/basic_passes.h"
#include "graph/passes/util.h"
#include "runtime/core/thread_pool.h"

namespace kiln::passes {

namespace {

// Ops whose result is not a function of their inputs, or that this pass leaves alone on purpose:
// DequantizeLinear stays so that quantized weights keep their small type (ONNX Runtime's default
// too), Dropout is left to dropout elimination.
const std::set<std::string>& not_folded() {
  static const std::set<std::string> ops = {"RandomNormal",
                                            "RandomUniform",
                                            "RandomNormalLike",
                                            "RandomUniformLike",
                                            "Multinomial",
                                            "Bernoulli",
                                            "Dropout",
                                            "DequantizeLinear",
                                            "If",
                                            "Loop",
                                            "Scan",
                                            "SequenceConstruct",
                                            "Optional",
                                            "DynamicQuantizeLinear"};
  return ops;
}

// Ops whose output may be much larger than their inputs: folded only when the output size is
// known beforehand.
const std::set<std::string>& may_grow() {
  static const std::set<std::string> ops = {
      "Gather",   "GatherND", "GatherElements", "MatMul", "Gemm",  "Resize",        "Upsample",
      "Pad",      "OneHot",   "EyeLike",        "Einsum", "Conv",  "ConvTranspose", "Col2Im",
      "Compress", "NonZero",  "TopK",           "Unique", "Trilu", "CumSum",        "Mod"};
  return ops;
}

std::optional<int64_t> product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > (int64_t{1} << 50) / d) return int64_t{1} << 50;
    n *= d;
  }
  return n;
}

// Numpy broadcast of shapes; nullopt when they do not broadcast.
std::optional<Shape> broadcast(const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const Shape& s : shapes) {
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[rank - s.size() + i];
      int64_t d = s[i];
      if (d == o || d == 1) continue;
      if (o == 1) {
        o = d;
        continue;
      }
      return std::nullopt;
    }
  }
  return out;
}

// Bytes the node's outputs will take, when it can be told before running it.
std::optional<int64_t> estimated_bytes(const ir::Node& n, const std::vector<const Tensor*>& ins) {
  // Full output infos from shape inference.
  int64_t total = 0;
  bool all_known = true;
  for (ir::Value* v : n.outputs()) {
    if (!v) continue;
    const ir::ValueInfo& info = v->info();
    if (!info.has_shape || info.dtype == DType::kUndefined) {
      all_known = false;
      break;
    }
    std::vector<int64_t> dims;
    for (const ir::Dim& d : info.dims) dims.push_back(d.value);
    auto p = product(dims);
    if (!p) {
      all_known = false;
      break;
    }
    total += *p * static_cast<int64_t>(std::max<size_t>(dtype_size(info.dtype), 1));
  }
  if (all_known) return total;

  auto in = [&](size_t i) -> const Tensor* { return i < ins.size() ? ins[i] : nullptr; };
  const std::string& op = n.op_type();
  if (!n.domain().empty()) return std::nullopt;
  if (op == "ConstantOfShape" && in(0)) {
    auto p = product(in(0)->to_int64_vector());
    if (!p) return std::nullopt;
    const ir::Attribute* a = n.attr("value");
    size_t es =
        a && a->type == ir::AttrType::kTensor && a->t.defined() ? dtype_size(a->t.dtype()) : 4;
    return *p * static_cast<int64_t>(std::max<size_t>(es, 1));
  }
  if (op == "Expand" && in(0) && in(1)) {
    auto s = broadcast({in(0)->shape(), in(1)->to_int64_vector()});
    if (!s) return std::nullopt;
    auto p = product(*s);
    if (!p) return std::nullopt;
    return *p * static_cast<int64_t>(dtype_size(in(0)->dtype()));
  }
  if (op == "Tile" && in(0) && in(1)) {
    auto p = product(in(1)->to_int64_vector());
    if (!p) return std::nullopt;
    return std::min<int64_t>(*p, int64_t{1} << 50) * static_cast<int64_t>(in(0)->nbytes());
  }
  if (op == "Range" && in(0) && in(1) && in(2) && in(0)->numel() == 1 && in(1)->numel() == 1 &&
      in(2)->numel() == 1) {
    double start = in(0)->get_as_double(0), limit = in(1)->get_as_double(0),
           delta = in(2)->get_as_double(0);
    if (delta == 0 || !std::isfinite(start) || !std::isfinite(limit) || !std::isfinite(delta))
      return std::nullopt;
    double count = std::max(0.0, std::ceil((limit - start) / delta));
    return static_cast<int64_t>(std::min(count, 1e15)) *
           static_cast<int64_t>(dtype_size(in(0)->dtype()));
  }
  if (may_grow().count(op) || op == "ConstantOfShape" || op == "Expand" || op == "Tile" ||
      op == "Range")
    return std::nullopt;
  // Other ops: elementwise ones produce the broadcast of their inputs; the rest are bounded by
  // their inputs up to the element size (shape ops, reductions, casts ...): this estimate only
  // keeps huge allocations away; the real size is checked after the run.
  std::vector<Shape> shapes;
  int64_t in_bytes = 0;
  for (const Tensor* t : ins) {
    if (!t) continue;
    shapes.push_back(t->shape());
    in_bytes += static_cast<int64_t>(t->nbytes());
  }
  auto s = broadcast(shapes);
  int64_t bc = 0;
  if (s) {
    auto p = product(*s);
    if (p) bc = *p * 4;
  }
  return std::max(bc, in_bytes);
}

class ConstantFolding : public Pass {
 public:
  explicit ConstantFolding(int64_t max_bytes) : max_bytes_(max_bytes) {}
  std::string name() const override { return "constant_folding"; }

  Expected<bool> run(ir::Graph& g, PassContext& ctx) override {
    ThreadPool pool(1);
    bool changed = false;
    // In list (topological) order, so that a folded node makes its users' inputs constant.
    for (ir::Node* n : g.nodes()) {
      if (!foldable(*n)) continue;
      std::vector<const Tensor*> ins;
      bool all_constant = true;
      for (ir::Value* v : n->inputs()) {
        if (!v) {
          ins.push_back(nullptr);
          continue;
        }
        const Tensor* t = constant_of(v);
        if (!t || t->dtype() == DType::kString) {
          all_constant = false;
          break;
        }
        ins.push_back(t);
      }
      if (!all_constant) continue;
      const bool is_constant = is_op(n, "Constant");
      if (!is_constant) {
        auto est = estimated_bytes(*n, ins);
        if (!est || *est > max_bytes_) {
          spdlog::debug("constant folding: {} skipped (output {} over {} bytes)", n->describe(),
                        est ? std::to_string(*est) : "of unknown size", max_bytes_);
          continue;
        }
      }
      auto outs = run_node_on_cpu(*n, ins, &pool);
      if (!outs) {
        spdlog::debug("constant folding: {} left in place: {}", n->describe(),
                      outs.status().message());
        continue;
      }
      if (!acceptable(*n, *outs)) continue;
      std::vector<ir::Value*> outputs = n->outputs();
      g.remove_node(n);
      for (size_t i = 0; i < outputs.size(); ++i)
        if (outputs[i] && (*outs)[i].defined()) g.set_initializer(outputs[i], (*outs)[i]);
      ctx.stats.add(is_constant ? "constant_to_initializer" : "constant_folded");
      changed = true;
    }
    if (changed) release_unused_initializers(g);
    return changed;
  }

 private:
  bool foldable(const ir::Node& n) const {
    if (n.domain().empty() && not_folded().count(n.op_type())) return false;
    for (const auto& [k, a] : n.attributes())
      if (a.type == ir::AttrType::kGraph) return false;
    bool any_output = false;
    for (ir::Value* v : n.outputs()) {
      if (!v) continue;
      if (v->is_graph_output()) return false;
      any_output = true;
    }
    return any_output;
  }

  // Every used output computed, of the declared dtype, and within the size cap.
  bool acceptable(const ir::Node& n, const std::vector<Tensor>& outs) const {
    int64_t bytes = 0;
    for (size_t i = 0; i < n.outputs().size(); ++i) {
      ir::Value* v = n.outputs()[i];
      if (!v) continue;
      const Tensor& t = i < outs.size() ? outs[i] : Tensor();
      if (!t.defined()) {
        if (!v->users().empty()) return false;
        continue;
      }
      if (t.dtype() == DType::kString) return false;
      if (v->info().dtype != DType::kUndefined && v->info().dtype != t.dtype()) {
        spdlog::debug("constant folding: {} output '{}' is {} but declared {}", n.describe(),
                      v->name(), dtype_name(t.dtype()), dtype_name(v->info().dtype));
        return false;
      }
      bytes += static_cast<int64_t>(t.nbytes());
    }
    return n.op_type() == "Constant" || bytes <= max_bytes_;
  }

  int64_t max_bytes_;
};

}  // namespace

std::unique_ptr<Pass> make_constant_folding(int64_t max_output_bytes) {
  return std::make_unique<ConstantFolding>(max_output_bytes);
}

}  // namespace kiln::passes
