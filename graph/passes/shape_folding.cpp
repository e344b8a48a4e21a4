// Shape folding (level 1): Shape and Size of a value whose dims are statically known become
// constants, and so do Gather / Slice of a Shape output that pick only known dims, even when
// other dims are symbolic (the batch size, the sequence length). Constant folding then finishes
// the chains (Unsqueeze, Concat ... of those constants).
//
// Gather / Slice are run on the real kernel over the shape with -1 in place of each unknown dim:
// they only move values, so a result without -1 is exactly the shape values they would produce.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <set>

#include "graph/passes/basic_passes.h"
#include "graph/passes/util.h"
#include "runtime/core/thread_pool.h"

namespace kiln::passes {

namespace {

// The dims Shape(x) returns, -1 for unknown ones; nullopt when the rank is unknown.
std::optional<std::vector<int64_t>> shape_values(const ir::Node& shape_node) {
  const ir::Value* x = shape_node.input(0);
  if (!x || !x->info().has_shape) return std::nullopt;
  std::vector<int64_t> dims;
  for (const ir::Dim& d : x->info().dims) dims.push_back(d.known() ? d.value : -1);
  const int64_t r = static_cast<int64_t>(dims.size());
  int64_t start = 0, end = r;
  if (shape_node.opset() >= 15) {
    for (const auto& [k, a] : shape_node.attributes()) {
      if (a.type != ir::AttrType::kInt) return std::nullopt;
      if (k == "start")
        start = a.i;
      else if (k == "end")
        end = a.i;
    }
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
  }
  if (end < start) end = start;
  return std::vector<int64_t>(dims.begin() + start, dims.begin() + end);
}

bool all_known(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (t.data<int64_t>()[i] < 0) return false;
  return true;
}

class ShapeFolding : public Pass {
 public:
  std::string name() const override { return "shape_folding"; }

  Expected<bool> run(ir::Graph& g, PassContext& ctx) override {
    ThreadPool pool(1);
    bool changed = false;
    std::set<const ir::Node*> removed;  // Gather / Slice users removed ahead of the loop
    for (ir::Node* n : g.nodes()) {
      if (removed.count(n)) continue;
      if (is_op(n, "Size")) {
        changed |= fold_size(g, n, ctx);
        continue;
      }
      if (!is_op(n, "Shape") || n->outputs().size() != 1 || !n->output(0)) continue;
      auto dims = shape_values(*n);
      if (!dims) continue;
      ir::Value* out = n->output(0);
      Tensor shape_t = Tensor::from_vector<int64_t>({static_cast<int64_t>(dims->size())}, *dims);
      if (all_known(shape_t) && !out->is_graph_output()) {
        g.remove_node(n);
        g.set_initializer(out, shape_t);
        ctx.stats.add("shape_folded");
        changed = true;
        continue;
      }
      // Gather / Slice users that only pick known dims.
      std::vector<ir::Node*> users = out->users();
      std::sort(users.begin(), users.end());
      users.erase(std::unique(users.begin(), users.end()), users.end());
      for (ir::Node* u : users) {
        if (!(is_op(u, "Gather") || is_op(u, "Slice")) || u->input(0) != out ||
            u->outputs().size() != 1 || !u->output(0) || u->output(0)->is_graph_output())
          continue;
        std::vector<const Tensor*> ins{&shape_t};
        bool ok = true;
        for (size_t i = 1; i < u->inputs().size() && ok; ++i) {
          ir::Value* v = u->input(i);
          if (!v) {
            ins.push_back(nullptr);
            continue;
          }
          if (v == out) {
            ok = false;
            break;
          }
          const Tensor* t = constant_of(v);
          if (!t) ok = false;
          ins.push_back(t);
        }
        if (!ok) continue;
        auto r = run_node_on_cpu(*u, ins, &pool);
        if (!r || r->empty() || !(*r)[0].defined() || (*r)[0].dtype() != DType::kInt64 ||
            !all_known((*r)[0]))
          continue;
        ir::Value* uo = u->output(0);
        removed.insert(u);
        g.remove_node(u);
        g.set_initializer(uo, (*r)[0]);
        ctx.stats.add("shape_folded");
        changed = true;
      }
      if (out->users().empty() && !out->is_graph_output()) g.remove_node(n);
    }
    if (changed) release_unused_initializers(g);
    return changed;
  }

 private:
  static bool fold_size(ir::Graph& g, ir::Node* n, PassContext& ctx) {
    const ir::Value* x = n->input(0);
    ir::Value* out = n->output(0);
    if (!x || !out || out->is_graph_output() || !x->info().has_shape) return false;
    int64_t count = 1;
    for (const ir::Dim& d : x->info().dims) {
      if (!d.known()) return false;
      if (d.value != 0 && count > INT64_MAX / d.value) return false;
      count *= d.value;
    }
    g.remove_node(n);
    g.set_initializer(out, Tensor::scalar<int64_t>(count));
    ctx.stats.add("shape_folded");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_shape_folding() {
  return std::make_unique<ShapeFolding>();
}

}  // namespace kiln::passes
