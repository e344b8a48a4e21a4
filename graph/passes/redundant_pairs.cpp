// Redundant-pair elimination (level 1), one pattern per op:
//   Cast to the type its input already has: removed ("cast_removed");
//   Cast(A->B) -> Cast(B->C) where every A value is exact in B: one Cast A->C ("cast_merged");
//   Reshape -> Reshape: the first is redundant when the second's shape is a constant without 0
//     (or allowzero=1) ("reshape_merged");
//   Transpose -> Transpose: composed into one perm, removed when it is the identity
//     ("transpose_merged", "transpose_removed"; a lone identity Transpose is removed too);
//   Unsqueeze(A) -> Squeeze(A), and Squeeze(A) -> Unsqueeze(A) when those dims are known to be 1:
//     both removed ("squeeze_removed").
// The first node of a pair stays when it has other readers; dead nodes go at the end of a round.
#include <algorithm>
#include <numeric>
#include <set>

#include "graph/passes/basic_passes.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

// Every value of `a` is exactly representable in `b` (so a Cast a->b loses nothing).
bool lossless(DType a, DType b) {
  if (a == b) return true;
  using D = DType;
  auto in = [&](std::initializer_list<D> l) { return std::find(l.begin(), l.end(), b) != l.end(); };
  switch (a) {
    case D::kBool:
      return in({D::kUInt8, D::kInt8, D::kUInt16, D::kInt16, D::kUInt32, D::kInt32, D::kUInt64,
                 D::kInt64, D::kFloat16, D::kBFloat16, D::kFloat32, D::kFloat64});
    case D::kUInt8:
      return in({D::kUInt16, D::kInt16, D::kUInt32, D::kInt32, D::kUInt64, D::kInt64, D::kFloat16,
                 D::kBFloat16, D::kFloat32, D::kFloat64});
    case D::kInt8:
      return in(
          {D::kInt16, D::kInt32, D::kInt64, D::kFloat16, D::kBFloat16, D::kFloat32, D::kFloat64});
    case D::kUInt16:
      return in({D::kUInt32, D::kInt32, D::kUInt64, D::kInt64, D::kFloat32, D::kFloat64});
    case D::kInt16:
      return in({D::kInt32, D::kInt64, D::kFloat32, D::kFloat64});
    case D::kUInt32:
      return in({D::kUInt64, D::kInt64, D::kFloat64});
    case D::kInt32:
      return in({D::kInt64, D::kFloat64});
    case D::kFloat16:
    case D::kBFloat16:
      return in({D::kFloat32, D::kFloat64});
    case D::kFloat32:
      return in({D::kFloat64});
    default:
      return false;
  }
}

std::optional<DType> cast_to(const ir::Node* n) {
  const ir::Attribute* a = n->attr("to");
  if (!a || a->type != ir::AttrType::kInt) return std::nullopt;
  auto dt = dtype_from_onnx(static_cast<int32_t>(a->i));
  if (!dt || *dt == DType::kUndefined || *dt == DType::kString) return std::nullopt;
  return dt;
}

class CastPattern : public RewritePattern {
 public:
  std::string name() const override { return "cast_elimination"; }
  std::vector<std::string> target_ops() const override { return {"Cast"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* n, PassContext& ctx) override {
    ir::Value* x = n->input(0);
    ir::Value* out = n->output(0);
    auto to = cast_to(n);
    if (!x || !out || !to || n->outputs().size() != 1) return false;
    if (x->info().dtype == *to) {
      KILN_ASSIGN_OR_RETURN(bool done, bypass_node(g, n, x, out));
      if (done) ctx.stats.add("cast_removed");
      return done;
    }
    ir::Node* first = producer_if(x, "Cast");
    if (!first || !first->input(0)) return false;
    ir::Value* x0 = first->input(0);
    auto mid = cast_to(first);
    if (!mid || x0->info().dtype == DType::kUndefined || !lossless(x0->info().dtype, *mid))
      return false;
    if (x0->info().dtype == *to) {
      KILN_ASSIGN_OR_RETURN(bool done, bypass_node(g, n, x0, out));
      if (done) {
        ctx.stats.add("cast_removed");
        return true;
      }
    }
    g.set_node_input(n, 0, x0);
    ctx.stats.add("cast_merged");
    return true;
  }
};

class ReshapePattern : public RewritePattern {
 public:
  std::string name() const override { return "reshape_merge"; }
  std::vector<std::string> target_ops() const override { return {"Reshape"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* n, PassContext& ctx) override {
    if (n->opset() < 5) return false;
    ir::Node* first = producer_if(n->input(0), "Reshape");
    if (!first || !first->input(0)) return false;
    auto shape = ints_of(n->input(1));
    if (!shape) return false;
    const ir::Attribute* az = n->attr("allowzero");
    bool allowzero = az && az->type == ir::AttrType::kInt && az->i != 0;
    if (!allowzero && std::find(shape->begin(), shape->end(), 0) != shape->end()) return false;
    g.set_node_input(n, 0, first->input(0));
    ctx.stats.add("reshape_merged");
    return true;
  }
};

// The perm of a Transpose for an input of rank `rank` (-1: unknown); nullopt when invalid.
std::optional<std::vector<int64_t>> perm_of(const ir::Node* n, int64_t rank) {
  const ir::Attribute* a = n->attr("perm");
  std::vector<int64_t> p;
  if (a) {
    if (a->type != ir::AttrType::kInts) return std::nullopt;
    p = a->ints;
  } else {
    if (rank < 0) return std::nullopt;
    for (int64_t i = rank - 1; i >= 0; --i) p.push_back(i);
  }
  if (rank >= 0 && static_cast<int64_t>(p.size()) != rank) return std::nullopt;
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i)
    if (sorted[i] != static_cast<int64_t>(i)) return std::nullopt;
  return p;
}

int64_t rank_of(const ir::Value* v) {
  return v && v->info().has_shape ? static_cast<int64_t>(v->info().dims.size()) : -1;
}

bool is_identity(const std::vector<int64_t>& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}

class TransposePattern : public RewritePattern {
 public:
  std::string name() const override { return "transpose_merge"; }
  std::vector<std::string> target_ops() const override { return {"Transpose"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* n, PassContext& ctx) override {
    ir::Value* x = n->input(0);
    ir::Value* out = n->output(0);
    if (!x || !out) return false;
    ir::Node* first = producer_if(x, "Transpose");
    if (!first) {
      auto p = perm_of(n, rank_of(x));
      if (!p || !is_identity(*p)) return false;
      KILN_ASSIGN_OR_RETURN(bool done, bypass_node(g, n, x, out));
      if (done) ctx.stats.add("transpose_removed");
      return done;
    }
    ir::Value* x0 = first->input(0);
    if (!x0) return false;
    int64_t rank = rank_of(x0);
    if (rank < 0) rank = rank_of(x);
    if (rank < 0 && first->attr("perm"))
      rank = static_cast<int64_t>(first->attr("perm")->ints.size());
    if (rank < 0 && n->attr("perm")) rank = static_cast<int64_t>(n->attr("perm")->ints.size());
    auto p1 = perm_of(first, rank);
    auto p2 = perm_of(n, rank);
    if (!p1 || !p2) return false;
    std::vector<int64_t> c(p2->size());
    for (size_t j = 0; j < c.size(); ++j) c[j] = (*p1)[static_cast<size_t>((*p2)[j])];
    if (is_identity(c)) {
      KILN_ASSIGN_OR_RETURN(bool done, bypass_node(g, n, x0, out));
      if (done) {
        ctx.stats.add("transpose_removed");
        return true;
      }
    }
    ir::Attribute a;
    a.type = ir::AttrType::kInts;
    a.ints = c;
    g.set_node_input(n, 0, x0);
    n->set_attr("perm", a);
    ctx.stats.add("transpose_merged");
    return true;
  }
};

// Squeeze / Unsqueeze axes (attribute before opset 13, constant input after); nullopt when
// absent or not constant.
std::optional<std::vector<int64_t>> axes_of(const ir::Node* n) {
  if (n->opset() < 13) {
    const ir::Attribute* a = n->attr("axes");
    if (!a || a->type != ir::AttrType::kInts) return std::nullopt;
    return a->ints;
  }
  if (!n->input(1)) return std::nullopt;
  return ints_of(n->input(1));
}

// Axes made non-negative for `rank` and sorted; nullopt when out of range, repeated or needing a
// rank that is unknown.
std::optional<std::vector<int64_t>> normalized(std::vector<int64_t> axes, int64_t rank) {
  for (int64_t& a : axes) {
    if (a < 0) {
      if (rank < 0) return std::nullopt;
      a += rank;
    }
    if (a < 0 || (rank >= 0 && a >= rank)) return std::nullopt;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) return std::nullopt;
  return axes;
}

class SqueezePairPattern : public RewritePattern {
 public:
  std::string name() const override { return "squeeze_pair"; }
  std::vector<std::string> target_ops() const override { return {"Squeeze", "Unsqueeze"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* n, PassContext& ctx) override {
    ir::Value* x = n->input(0);
    ir::Value* out = n->output(0);
    if (!x || !out || n->outputs().size() != 1) return false;
    const bool squeeze = is_op(n, "Squeeze");
    ir::Node* first = producer_if(x, squeeze ? "Unsqueeze" : "Squeeze");
    if (!first || !first->input(0)) return false;
    ir::Value* x0 = first->input(0);
    auto a1 = axes_of(first);
    auto a2 = axes_of(n);
    if (!a1 || !a2 || a1->empty() || a1->size() != a2->size()) return false;
    int64_t r0 = rank_of(x0);
    // Unsqueeze -> Squeeze: both axes lists refer to the unsqueezed rank r0 + |A|.
    // Squeeze -> Unsqueeze: both refer to r0, and the squeezed dims must be known ones.
    int64_t rank = r0 < 0 ? -1 : (squeeze ? r0 + static_cast<int64_t>(a1->size()) : r0);
    auto n1 = normalized(*a1, rank);
    auto n2 = normalized(*a2, rank);
    if (!n1 || !n2 || *n1 != *n2) return false;
    if (!squeeze) {
      if (r0 < 0) return false;
      for (int64_t a : *n1)
        if (x0->info().dims[static_cast<size_t>(a)].value != 1) return false;
    }
    KILN_ASSIGN_OR_RETURN(bool done, bypass_node(g, n, x0, out));
    if (done) ctx.stats.add("squeeze_removed");
    return done;
  }
};

}  // namespace

std::unique_ptr<Pass> make_redundant_pair_elimination() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<CastPattern>());
  p.push_back(std::make_unique<ReshapePattern>());
  p.push_back(std::make_unique<TransposePattern>());
  p.push_back(std::make_unique<SqueezePairPattern>());
  return std::make_unique<PatternPass>("redundant_pair_elimination", std::move(p));
}

}  // namespace kiln::passes
