// Multi-head self-attention -> com.microsoft Attention (level 2).
//
// Matched from the Softmax outwards, in the spellings the PyTorch (TorchScript) exporter writes
// for BERT, DistilBERT, RoBERTa and GPT-2, eager or SDPA:
//   q = Transpose(Reshape(X Wq + bq, [B, S, N, h]), 0 2 1 3), times a scalar or not
//   k = Transpose(Reshape(X Wk + bk, ..), 0 2 3 1), or 0 2 1 3 then 0 1 3 2
//   v = Transpose(Reshape(X Wv + bv, ..), 0 2 1 3)
//   p = Softmax(q k * s [+ mask]), then optionally Where(IsNaN(p), 0, p) and a Cast
//   y = Reshape(Transpose(p v [Reshape to B, -1, S, h], 0 2 1 3), [B, S, N*h])
// with the scale as Mul/Div by a constant on the scores, on q, on k or split between q and k,
// and Q, K, V from three MatMul + Add, one packed MatMul + Add and Split, or GPT-2's Conv1D
// (Reshape, Gemm, Reshape) and Split. The mask must come from one rank-2 graph input
// (attention_mask) with a large negative fill; Attention gets it as the raw 2-D mask
// (mask_index int32 [batch, seq]), which also covers left padding. A position comparison in the
// mask chain is allowed only as transformers' causal condition, key position <= query position
// with both ranges from 0 (then unidirectional=1); any other (sliding windows, offsets from a
// past) is not matched.
// With a KV cache (Optimum's decoder-with-past layout: GPT-2 with past_key_values.N.key/value
// [B, N, P, h] inputs and present.N.key/value outputs) K and V are Concat(past, new heads) along
// the sequence axis; that becomes MultiHeadAttention(q, k, v, key_padding_mask, past_key,
// past_value) -> output, present_key, present_value with the projections left in place, and the
// causal condition must then compare key positions with query positions shifted by the past
// length (dim 2 of a past input), which is what unidirectional means with a past. A one-input
// Concat (the cache started empty) gives the presents without past inputs.
// T5 (projections without bias, Mul by 1 on q and k, a relative position bias read from a
// Gather of a float table added to the scores): MultiHeadAttention with that sum as
// attention_bias and scale=1; K and V may project another sequence (cross-attention) or be the
// cached encoder keys / values [B, N, L, h] used as they are (decoder with past).
#include <algorithm>
#include <cmath>
#include <set>

#include "graph/passes/extended_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

// A Shape node, or a Transpose / Reshape whose results only Shape nodes read (T5 reads the key
// length off a transposed copy of the key heads): it reads sizes, not values.
bool shape_reader(const ir::Node* u, int depth = 0) {
  if (is_op(u, "Shape")) return true;
  if (depth > 2 || !(is_op(u, "Transpose") || is_op(u, "Reshape"))) return false;
  const ir::Value* o = u->output(0);
  if (!o || o->is_graph_output() || o->users().empty()) return false;
  for (const ir::Node* x : o->users())
    if (!shape_reader(x, depth + 1)) return false;
  return true;
}

// The one reader of `v` besides Shape nodes (the exporters read sizes off the intermediate
// values; those Shape nodes die with the match when only the match used them), or nullptr.
ir::Node* sole_user(const ir::Value* v) {
  if (!v || v->is_graph_output()) return nullptr;
  ir::Node* only = nullptr;
  for (ir::Node* u : v->users()) {
    if (shape_reader(u)) continue;
    if (only && only != u) return nullptr;
    only = u;
  }
  return only;
}

bool sole_use(const ir::Value* v) {
  if (!v || v->is_graph_output()) return false;
  size_t n = 0;
  for (ir::Node* u : v->users()) n += shape_reader(u) ? 0 : 1;
  return n == 1;
}

bool all_sole_use(const std::vector<const ir::Value*>& vs) {
  for (const ir::Value* v : vs)
    if (!sole_use(v)) return false;
  return true;
}

bool has_perm(const ir::Node* t, const std::vector<int64_t>& perm) {
  if (!is_op(t, "Transpose")) return false;
  auto p = ints_attr_of(t, "perm");
  return p && *p == perm;
}

// Strips Mul/Div by constant scalars read once, multiplying `scale`.
ir::Value* strip_scale(ir::Value* v, double* scale, std::vector<const ir::Value*>* mids) {
  for (;;) {
    ir::Node* p = v ? v->producer() : nullptr;
    if (!p || p->inputs().size() != 2) return v;
    if (is_op(p, "Mul")) {
      auto s = any_scalar_input(p);
      if (!s) return v;
      *scale *= s->second;
      mids->push_back(v);
      v = p->input(1 - s->first);
    } else if (is_op(p, "Div")) {
      auto s = scalar_of(p->input(1));
      if (!s || *s == 0) return v;
      *scale /= *s;
      mids->push_back(v);
      v = p->input(0);
    } else {
      return v;
    }
  }
}

struct Proj {
  ir::Value* x = nullptr;
  const Tensor* w = nullptr;
  const Tensor* b = nullptr;  // nullptr: no bias (then only MultiHeadAttention takes it)
  int64_t col0 = 0;           // first column of this projection in w / b
  int64_t num_heads = -1;
  int64_t head_size = -1;
  ir::Value* heads = nullptr;  // the [B, N, S, h] (k: [B, N, h, S]) value after the Transpose
  ir::Value* flat = nullptr;   // the [B, S, N*h] projection the head Reshape reads
};

// Heads from a Reshape's shape: a constant [.., .., N, h] or Concat(.., .., [N], [h]), -1
// allowed in one of them.
void heads_of(const ir::Value* shape, int64_t* n, int64_t* h) {
  if (auto c = ints_of(shape)) {
    if (c->size() == 4) {
      *n = (*c)[2];
      *h = (*c)[3];
    }
    return;
  }
  ir::Node* cat = producer_if(shape, "Concat");
  if (!cat || cat->inputs().size() != 4) return;
  auto a = ints_of(cat->input(2));
  auto b = ints_of(cat->input(3));
  if (a && a->size() == 1) *n = (*a)[0];
  if (b && b->size() == 1) *h = (*b)[0];
}

// is_dim_of is defined below.
bool is_dim_of(const ir::Value* v, const ir::Value* of, int64_t index);

// GPT-2's Conv1D: Reshape(Gemm(Reshape(X, [-1, H]), W, b), [B, S, N]) with B, S read off X.
// Returns X, and W / b, when `lin` is that.
ir::Value* match_conv1d(ir::Value* lin, const Tensor** w, const Tensor** b) {
  ir::Node* r2 = producer_if(lin, "Reshape");
  ir::Node* gemm = r2 ? producer_if(r2->input(0), "Gemm") : nullptr;
  if (!gemm || gemm->inputs().size() != 3 || !sole_use(r2->input(0))) return nullptr;
  if (int_attr_of(gemm, "transA").value_or(0) || int_attr_of(gemm, "transB").value_or(0) ||
      float_attr_of(gemm, "alpha").value_or(1.f) != 1.f ||
      float_attr_of(gemm, "beta").value_or(1.f) != 1.f)
    return nullptr;
  *w = constant_of(gemm->input(1));
  *b = constant_of(gemm->input(2));
  if (!*w || !*b || (*w)->rank() != 2 || (*b)->rank() != 1) return nullptr;
  const int64_t in = (*w)->shape()[0], out = (*w)->shape()[1];
  ir::Node* r1 = producer_if(gemm->input(0), "Reshape");
  if (!r1 || !sole_use(gemm->input(0))) return nullptr;
  auto flat = ints_of(r1->input(1));
  if (!flat || flat->size() != 2 || (*flat)[0] != -1 || (*flat)[1] != in) return nullptr;
  ir::Value* x = r1->input(0);
  ir::Node* cat = producer_if(r2->input(1), "Concat");
  if (!cat || cat->inputs().size() != 3) return nullptr;
  auto last = ints_of(cat->input(2));
  if (!last || last->size() != 1 || (*last)[0] != out) return nullptr;
  if (!is_dim_of(cat->input(0), x, 0) || !is_dim_of(cat->input(1), x, 1)) return nullptr;
  return x;
}

// From the Reshape input back to MatMul(X, W) + b (or GPT-2's Conv1D), possibly through a Split
// of a packed projection.
bool match_linear(ir::Value* v, Proj* p, std::vector<const ir::Value*>* mids) {
  int64_t split_index = -1, parts = 1;
  ir::Value* lin = v;
  ir::Node* split = producer_if(v, "Split");
  if (split) {
    auto axis = int_attr_of(split, "axis").value_or(0);
    if (split->outputs().size() != 3 || (axis != -1 && axis != 2)) return false;
    if (auto sizes = split->input(1) ? ints_of(split->input(1)) : ints_attr_of(split, "split")) {
      if (sizes->size() != 3 || (*sizes)[0] != (*sizes)[1] || (*sizes)[1] != (*sizes)[2])
        return false;
    } else if (split->input(1)) {
      return false;
    }
    for (size_t i = 0; i < 3; ++i)
      if (split->output(i) == v) split_index = static_cast<int64_t>(i);
    parts = 3;
    lin = split->input(0);
    if (!sole_use(v)) return false;
  }
  if (split && !sole_use(lin)) return false;
  const Tensor *cw = nullptr, *cb = nullptr;
  if (ir::Value* x = split ? match_conv1d(lin, &cw, &cb) : nullptr) {
    if (cw->dtype() != DType::kFloat32 || cb->dtype() != DType::kFloat32 ||
        cw->shape()[1] != cb->shape()[0] || cw->shape()[1] % parts != 0)
      return false;
    p->x = x;
    p->w = cw;
    p->b = cb;
    p->col0 = split_index * (cw->shape()[1] / parts);
    return true;
  }
  ir::Node* add = producer_if(lin, "Add");
  if (!add && !split) {  // a projection without bias (T5): MatMul(X, W) alone
    ir::Node* mm = producer_if(lin, "MatMul");
    const Tensor* w = mm ? constant_of(mm->input(1)) : nullptr;
    if (!w || w->rank() != 2 || w->dtype() != DType::kFloat32) return false;
    p->x = mm->input(0);
    p->w = w;
    p->b = nullptr;
    return true;
  }
  if (!add || add->inputs().size() != 2) return false;
  if (split && (!sole_use(lin) || !sole_use(split->output(0)) || !sole_use(split->output(1)) ||
                !sole_use(split->output(2))))
    return false;
  for (int bi = 0; bi < 2; ++bi) {
    ir::Node* mm = producer_if(add->input(1 - bi), "MatMul");
    const Tensor* b = constant_of(add->input(bi));
    if (!mm || !b || b->rank() != 1 || b->dtype() != DType::kFloat32) continue;
    const Tensor* w = constant_of(mm->input(1));
    if (!w || w->rank() != 2 || w->dtype() != DType::kFloat32 || w->shape()[1] != b->shape()[0])
      continue;
    if (w->shape()[1] % parts != 0 || (split && !sole_use(add->input(1 - bi)))) return false;
    p->x = mm->input(0);
    p->w = w;
    p->b = b;
    p->col0 = split_index < 0 ? 0 : split_index * (w->shape()[1] / parts);
    if (!split) mids->push_back(v), mids->push_back(add->input(1 - bi));
    return true;
  }
  return false;
}

// q or v (perm 0 2 1 3) or k (0 2 3 1), back to the projection.
bool match_proj(ir::Value* v, bool is_key, double* scale, Proj* p,
                std::vector<const ir::Value*>* mids) {
  v = strip_scale(v, scale, mids);
  ir::Node* t = v ? v->producer() : nullptr;
  if (is_key) {
    if (has_perm(t, {0, 1, 3, 2})) {
      p->heads = v;
      mids->push_back(v);
      v = strip_scale(t->input(0), scale, mids);
      t = v ? v->producer() : nullptr;
      if (!has_perm(t, {0, 2, 1, 3})) return false;
    } else if (!has_perm(t, {0, 2, 3, 1})) {
      return false;
    }
  } else if (!has_perm(t, {0, 2, 1, 3})) {
    return false;
  }
  if (!p->heads) p->heads = v;
  mids->push_back(v);
  v = strip_scale(t->input(0), scale, mids);
  ir::Node* r = producer_if(v, "Reshape");
  if (!r) return false;
  mids->push_back(v);
  heads_of(r->input(1), &p->num_heads, &p->head_size);
  p->flat = r->input(0);
  return match_linear(r->input(0), p, mids);
}

// Skips one-input Concats and Identities (the exporter's copy of a past input).
ir::Value* strip_identity(ir::Value* v) {
  for (int i = 0; i < 8 && v; ++i) {
    ir::Node* p = v->producer();
    if (!p || !(is_op(p, "Identity") || (is_op(p, "Concat") && p->inputs().size() == 1))) break;
    v = p->input(0);
  }
  return v;
}

// Concat(past, new, axis=-2 or 2) of [B, N, P, h] and [B, N, S, h] heads: the KV cache's
// present (a graph output); or a one-input Concat(new), what is left of it when the cache
// starts empty (T5's first decoder step: the presents without a past). Its readers besides
// `reader` may only be Shape nodes. `past` gets the past input (nullptr for none), `fresh` the
// new heads.
ir::Node* match_past_concat(ir::Value* v, const ir::Node* reader, ir::Value** past,
                            ir::Value** fresh) {
  ir::Node* cat = producer_if(v, "Concat");
  if (!cat || cat->inputs().size() < 1 || cat->inputs().size() > 2 || !cat->input(0))
    return nullptr;
  for (ir::Node* u : v->users())
    if (u != reader && !is_op(u, "Shape")) return nullptr;
  if (cat->inputs().size() == 1) {
    *past = nullptr;
    *fresh = cat->input(0);
    return cat;
  }
  auto axis = int_attr_of(cat, "axis");
  if (!axis || (*axis != -2 && *axis != 2)) return nullptr;
  *past = strip_identity(cat->input(0));
  *fresh = cat->input(1);
  if (!*past || !(*past)->is_graph_input() || (rank_of(*past) >= 0 && rank_of(*past) != 4))
    return nullptr;
  return cat;
}

// The key side with a KV cache: [scale] Transpose(Concat(past_k, k_new), 0 1 3 2) [scale], the
// value side Concat(past_v, v_new); k_new and v_new are [B, N, S, h] heads of projections.
struct PastKv {
  ir::Node* kcat = nullptr;
  ir::Node* vcat = nullptr;
  ir::Value* past_k = nullptr;
  ir::Value* past_v = nullptr;
};

bool match_past_key(ir::Value* kt, double* scale, Proj* k, PastKv* pkv,
                    std::vector<const ir::Value*>* mids) {
  kt = strip_scale(kt, scale, mids);
  ir::Node* t = kt ? kt->producer() : nullptr;
  if (!has_perm(t, {0, 1, 3, 2})) return false;
  mids->push_back(kt);
  ir::Value* fresh = nullptr;
  pkv->kcat = match_past_concat(t->input(0), t, &pkv->past_k, &fresh);
  if (!pkv->kcat) return false;
  double k_scale = 1.0;  // a scale on the new keys only would leave the past unscaled
  return match_proj(fresh, false, &k_scale, k, mids) && k_scale == 1.0;
}

bool match_past_value(ir::Node* pv, Proj* v, PastKv* pkv, std::vector<const ir::Value*>* mids) {
  ir::Value* fresh = nullptr;
  pkv->vcat = match_past_concat(pv->input(1), pv, &pkv->past_v, &fresh);
  if (!pkv->vcat) return false;
  double v_scale = 1.0;
  return match_proj(fresh, false, &v_scale, v, mids) && v_scale == 1.0;
}

// True when `v` is computed from an output of `target` (a backward walk over producers).
bool depends_on(const ir::Value* v, const ir::Node* target, std::set<const ir::Value*>* seen) {
  if (!v || seen->size() > 4000 || !seen->insert(v).second) return false;
  ir::Node* p = v->producer();
  if (!p) return false;
  if (p == target) return true;
  for (const ir::Value* i : p->inputs())
    if (depends_on(i, target, seen)) return true;
  return false;
}

// Before a present's Concat goes, its Shape readers (T5 reads the key length off the present
// for its position bias) must stop waiting for the fused node: without a past they read the
// new heads (same shape), with one the sum of the past's and the new heads' shapes. False: the
// present would still feed the fused node's inputs (a cycle).
bool reroute_present_shapes(ir::Graph& g, ir::Node* cat, const std::vector<ir::Value*>& ins) {
  ir::Value* present = cat->output(0);
  if (cat->inputs().size() == 1) {
    std::vector<ir::Node*> shapes;
    for (ir::Node* u : present->users())
      if (is_op(u, "Shape")) shapes.push_back(u);
    for (ir::Node* u : shapes) g.set_node_input(u, 0, cat->input(0));
    return true;
  }
  // With a past: Shape(present) = Shape(past) + Shape(new) * [0, 0, 1, 0] (they differ only
  // along the sequence axis), so that the readers do not wait for the fused node.
  std::vector<ir::Node*> shapes;
  for (ir::Node* u : present->users())
    if (is_op(u, "Shape") && !u->attr("start") && !u->attr("end") &&
        !u->output(0)->is_graph_output())
      shapes.push_back(u);
  if (!shapes.empty()) {
    ir::ValueInfo info;
    info.dtype = DType::kInt64;
    info.has_shape = true;
    info.dims = {ir::Dim{4, ""}};
    ir::Value* axis =
        add_constant(g, "present_seq_axis", Tensor::from_vector<int64_t>({4}, {0, 0, 1, 0}));
    ir::Value* s_past = new_value(g, present->name() + "_past_shape", info);
    ir::Value* s_new = new_value(g, present->name() + "_new_shape", info);
    ir::Value* s_seq = new_value(g, present->name() + "_new_len", info);
    ir::Value* s_all = new_value(g, present->name() + "_shape", info);
    const std::string base = present->name() + "_shape";
    if (!g.add_node("Shape", "", {cat->input(0)}, {s_past}, g.unique_name(base + "_past"))
             .has_value() ||
        !g.add_node("Shape", "", {cat->input(1)}, {s_new}, g.unique_name(base + "_new"))
             .has_value() ||
        !g.add_node("Mul", "", {s_new, axis}, {s_seq}, g.unique_name(base + "_len")).has_value() ||
        !g.add_node("Add", "", {s_past, s_seq}, {s_all}, g.unique_name(base + "_sum")).has_value())
      return false;
    for (ir::Node* u : shapes) {
      g.replace_all_uses(u->output(0), s_all);
      g.remove_node(u);
    }
  }
  for (const ir::Value* in : ins) {
    std::set<const ir::Value*> seen;
    if (depends_on(in, cat, &seen)) return false;
  }
  return true;
}

// Cached cross-attention K / V used as they are (T5's decoder with past: the encoder keys and
// values come in as past_key_values.N.encoder.* [B, N, L, h]): the key side is [scale]
// Transpose(K, 0 1 3 2) [scale], the value side V itself, each a (copy of a) graph input.
bool match_cached_kv(ir::Value* kt, ir::Node* pv, double* scale, ir::Value** k, ir::Value** v,
                     std::vector<const ir::Value*>* mids) {
  kt = strip_scale(kt, scale, mids);
  ir::Node* t = kt ? kt->producer() : nullptr;
  if (!has_perm(t, {0, 1, 3, 2})) return false;
  mids->push_back(kt);
  *k = strip_identity(t->input(0));
  *v = strip_identity(pv->input(1));
  for (ir::Value* x : {*k, *v})
    if (!x || !x->is_graph_input() || rank_of(x) != 4) return false;
  return *k != *v;
}

// Dim `i` of `a` and `b` is the same (equal known sizes or the same symbolic name).
bool same_dim(const ir::Value* a, const ir::Value* b, size_t i) {
  if (a == b) return true;
  if (!a || !b || !a->info().has_shape || !b->info().has_shape) return false;
  const auto& da = a->info().dims;
  const auto& db = b->info().dims;
  if (da.size() <= i || db.size() <= i) return false;
  if (da[i].known() || db[i].known()) return da[i].known() && da[i].value == db[i].value;
  return !da[i].param.empty() && da[i].param == db[i].param;
}

// Walks the mask operand back to the graph inputs it reads (through data edges; Shape and Size
// only read shapes). Fails on causal spellings.
struct MaskTrace {
  std::set<ir::Value*> inputs;
  bool big_negative = false;
  bool causal = false;        // kv position <= q position, both from 0 (or q from the past length)
  ir::Value* past = nullptr;  // the input whose dim 2 shifts the query positions
  bool ok = true;
};

// `v` = past length: [Cast](Gather(Shape(X), 2)) with X a (copy of a) rank-4 past input, or
// nullptr.
ir::Value* past_length_source(const ir::Value* v) {
  ir::Node* p = v ? v->producer() : nullptr;
  if (is_op(p, "Cast")) p = p->input(0) ? p->input(0)->producer() : nullptr;
  if (!is_op(p, "Gather") || scalar_of(p->input(1)).value_or(-1) != 2.0) return nullptr;
  ir::Node* shape = producer_if(p->input(0), "Shape");
  if (!shape || shape->attr("start") || shape->attr("end")) return nullptr;
  ir::Value* x = strip_identity(shape->input(0));
  if (!x || !x->is_graph_input() || rank_of(x) != 4) return nullptr;
  return x;
}

// `v` = Unsqueeze(...(Range(0, n, 1) [+ past length])...): the rank of v and the axis the range
// runs along, or {-1, -1}. `offset` gets the past input the range is shifted by (query
// positions after a KV cache), nullptr for a range from 0.
std::pair<int, int> range_axis(const ir::Value* v, ir::Value** offset) {
  *offset = nullptr;
  std::vector<const ir::Node*> chain;
  ir::Node* p = v ? v->producer() : nullptr;
  while (is_op(p, "Unsqueeze") && chain.size() < 8) {
    chain.push_back(p);
    p = p->input(0) ? p->input(0)->producer() : nullptr;
  }
  if (is_op(p, "Add") && p->inputs().size() == 2) {
    for (int i = 0; i < 2; ++i) {
      ir::Node* r = producer_if(p->input(i), "Range");
      ir::Value* x = r ? past_length_source(p->input(1 - i)) : nullptr;
      if (x) {
        *offset = x;
        p = r;
        break;
      }
    }
  }
  if (!is_op(p, "Range") || p->inputs().size() != 3) return {-1, -1};
  if (scalar_of(p->input(0)).value_or(-1) != 0 || scalar_of(p->input(2)).value_or(0) != 1)
    return {-1, -1};
  std::vector<bool> dims{true};  // true marks the range's axis
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    auto axes = (*it)->input(1) ? ints_of((*it)->input(1)) : ints_attr_of(*it, "axes");
    if (!axes) return {-1, -1};
    const int64_t out_rank = static_cast<int64_t>(dims.size() + axes->size());
    std::vector<int64_t> a;
    for (int64_t x : *axes) a.push_back(x < 0 ? x + out_rank : x);
    std::sort(a.begin(), a.end());
    for (int64_t x : a) {
      if (x < 0 || x > static_cast<int64_t>(dims.size())) return {-1, -1};
      dims.insert(dims.begin() + x, false);
    }
  }
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i]) return {static_cast<int>(dims.size()), static_cast<int>(i)};
  return {-1, -1};
}

// a <= b with a the key position (last axis, from 0) and b the query position (the axis
// before, from 0 or from the past length, whose source goes to `past`): the causal condition of
// transformers' mask builders.
bool is_causal_compare(const ir::Value* a, const ir::Value* b, ir::Value** past) {
  ir::Value* a_off = nullptr;
  auto [ra, aa] = range_axis(a, &a_off);
  auto [rb, ab] = range_axis(b, past);
  return !a_off && ra >= 2 && rb >= 2 && aa == ra - 1 && ab == rb - 2;
}

bool reaches_range(const ir::Value* v, int depth) {
  ir::Node* p = v ? v->producer() : nullptr;
  if (!p || depth > 8) return false;
  if (is_op(p, "Range")) return true;
  for (ir::Value* i : p->inputs())
    if (i && !constant_of(i) && reaches_range(i, depth + 1)) return true;
  return false;
}

void trace_mask(ir::Value* v, MaskTrace* t, std::set<const ir::Value*>* seen) {
  if (!v || !t->ok || !seen->insert(v).second) return;
  if (seen->size() > 400) {
    t->ok = false;
    return;
  }
  if (const Tensor* c = constant_of(v)) {
    if (c->numel() == 1) {
      auto s = scalar_of(v);
      if (s && *s <= -1000.0) t->big_negative = true;
    } else if (c->dtype() == DType::kBool || c->numel() > 1) {
      // A constant pattern in the mask (a triangular bias slice) is causal.
      ir::Node* u = nullptr;
      for (ir::Node* x : v->users())
        if (is_op(x, "Where") && x->input(0) == v) u = x;
      if (u) t->ok = false;
    }
    return;
  }
  if (v->is_graph_input()) {
    t->inputs.insert(v);
    return;
  }
  ir::Node* p = v->producer();
  if (!p) return;
  const std::string& op = p->op_type();
  if (op == "Shape" || op == "Size") return;
  if (op == "Trilu" || op == "CumSum") {
    t->ok = false;
    return;
  }
  if (op == "Less" || op == "LessOrEqual" || op == "Greater" || op == "GreaterOrEqual") {
    // Position against position: the causal mask when it is exactly kv <= q (once), anything
    // else (sliding windows, offsets) is not matched.
    if (reaches_range(p->input(0), 0) && reaches_range(p->input(1), 0)) {
      const bool causal =
          (op == "LessOrEqual" && is_causal_compare(p->input(0), p->input(1), &t->past)) ||
          (op == "GreaterOrEqual" && is_causal_compare(p->input(1), p->input(0), &t->past));
      if (!causal || t->causal) t->ok = false;
      t->causal = true;
      return;
    }
  }
  for (ir::Value* i : p->inputs()) trace_mask(i, t, seen);
}

// True when the additive operand of the scores reads a float table through a Gather (T5's
// relative position bias): then it is an attention bias, not a mask to rebuild.
bool reads_float_table(const ir::Value* v, std::set<const ir::Value*>* seen) {
  if (!v || seen->size() > 400 || !seen->insert(v).second) return false;
  ir::Node* p = v->producer();
  if (!p || is_op(p, "Shape") || is_op(p, "Size")) return false;
  if (is_op(p, "Gather")) {
    const Tensor* t = constant_of(p->input(0));
    if (t && t->numel() > 1 && is_float_type(t->dtype())) return true;
  }
  for (ir::Value* i : p->inputs())
    if (i && !constant_of(i) && reads_float_table(i, seen)) return true;
  return false;
}

// An attention bias MultiHeadAttention can take: rank 4, [B or 1, N or 1, S, T] as far as the
// shape is known (a known 1 in the last two dims would be a broadcast it does not do).
bool is_bias_shape(const ir::Value* v, int64_t n) {
  if (rank_of(v) != 4) return false;
  const auto& d = v->info().dims;
  if (d[1].known() && d[1].value != 1 && d[1].value != n) return false;
  return !(d[2].known() && d[2].value == 1) && !(d[3].known() && d[3].value == 1);
}

ir::Value* raw_mask_int32(ir::Graph& g, ir::Value* in) {
  if (in->info().dtype == DType::kInt32) return in;
  for (ir::Node* u : in->users()) {
    auto to = int_attr_of(u, "to");
    if (is_op(u, "Cast") && to && *to == 6) return u->output(0);
  }
  ir::ValueInfo info = in->info();
  info.dtype = DType::kInt32;
  ir::Value* out = new_value(g, in->name() + "_int32", info);
  auto n = g.add_node("Cast", "", {in}, {out}, g.unique_name("Cast_" + in->name()));
  if (!n.has_value()) return nullptr;
  (*n)->set_attr("to", make_int_attr(6));
  return out;
}

// `v` is Unsqueeze(Gather(Shape(of), index)) or Reshape(.., [1]) of it: dim `index` of `of`.
bool is_dim_of(const ir::Value* v, const ir::Value* of, int64_t index) {
  ir::Node* u = v ? v->producer() : nullptr;
  if (!is_op(u, "Unsqueeze") && !is_op(u, "Reshape")) return false;
  ir::Node* gat = producer_if(u->input(0), "Gather");
  if (!gat || scalar_of(gat->input(1)).value_or(-1) != static_cast<double>(index)) return false;
  ir::Node* shape = producer_if(gat->input(0), "Shape");
  return shape && !shape->attr("start") && !shape->attr("end") && shape->input(0) == of;
}

// The shape of the Reshape SDPA exports put between p v and its Transpose: [B, -1 or N, S, h]
// (a no-op on [B, N, S, h]): its dim 2 must be the sequence length and dim 3 the head size.
bool is_heads_reshape(const ir::Value* shape, int64_t n, int64_t h, const Proj& q, const Proj& v,
                      const ir::Node* pv) {
  if (auto c = ints_of(shape)) {  // folded: the sequence length must be the known one
    const ir::Dim* seq = rank_of(q.x) == 3 ? &q.x->info().dims[1] : nullptr;
    return c->size() == 4 && ((*c)[1] == -1 || (*c)[1] == n) && (*c)[3] == h && seq &&
           seq->known() && (*c)[2] == seq->value;
  }
  ir::Node* cat = producer_if(shape, "Concat");
  if (!cat || cat->inputs().size() != 4) return false;
  auto d1 = ints_of(cat->input(1));
  if (!d1 || d1->size() != 1 || ((*d1)[0] != -1 && (*d1)[0] != n)) return false;
  auto d3 = ints_of(cat->input(3));
  bool head_ok = (d3 && d3->size() == 1 && (*d3)[0] == h) || is_dim_of(cat->input(3), v.heads, 3) ||
                 is_dim_of(cat->input(3), pv->output(0), 3);
  auto d2 = ints_of(cat->input(2));  // folded where the sequence length is static (1 new token)
  const ir::Dim* seq = rank_of(q.x) == 3 ? &q.x->info().dims[1] : nullptr;
  bool seq_ok = (d2 && d2->size() == 1 && seq && seq->known() && (*d2)[0] == seq->value) ||
                is_dim_of(cat->input(2), q.heads, 2) ||
                is_dim_of(cat->input(2), pv->output(0), 2) || is_dim_of(cat->input(2), q.x, 1);
  return head_ok && seq_ok;
}

class AttentionPattern : public RewritePattern {
 public:
  std::string name() const override { return "attention_fusion"; }
  std::vector<std::string> target_ops() const override { return {"Softmax"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* sm, PassContext& ctx) override {
    auto axis = int_attr_of(sm, "axis").value_or(sm->opset() >= 13 ? -1 : 1);
    if (axis != -1 && axis != 3) return false;
    std::vector<const ir::Value*> mids{sm->input(0)};
    // After the softmax: [Where(IsNaN(p), 0, p)] [Cast] -> MatMul(p, v).
    ir::Value* p = sm->output(0);
    ir::Node* next = nullptr;
    for (ir::Node* u : p->users())
      if (!is_op(u, "IsNaN")) next = u;
    if (p->users().size() == 2) {
      ir::Node* isnan = nullptr;
      for (ir::Node* u : p->users())
        if (is_op(u, "IsNaN")) isnan = u;
      if (!isnan || !is_op(next, "Where") || next->input(0) != isnan->output(0) ||
          next->input(2) != p || scalar_of(next->input(1)).value_or(1.0) != 0.0 ||
          !used_once(isnan->output(0)))
        return false;
      // p's two readers are the IsNaN and the Where, both in the match.
      if (p->is_graph_output()) return false;
      p = next->output(0);
      next = sole_user(p);
    } else if (!sole_use(p)) {
      return false;
    }
    if (is_op(next, "Cast")) {
      auto to = int_attr_of(next, "to");
      if (!to || *to != 1) return false;
      mids.push_back(p);
      p = next->output(0);
      next = sole_user(p);
    }
    if (!is_op(next, "MatMul") || next->input(0) != p) return false;
    mids.push_back(p);
    ir::Node* pv = next;
    ir::Node* tr = sole_user(pv->output(0));
    ir::Node* noop_reshape = nullptr;  // SDPA: Reshape(p v, [B, -1, S, h]) before the Transpose
    if (is_op(tr, "Reshape")) {
      noop_reshape = tr;
      mids.push_back(tr->output(0));
      tr = sole_user(tr->output(0));
    }
    if (!has_perm(tr, {0, 2, 1, 3})) return false;
    ir::Node* root = sole_user(tr->output(0));
    if (!is_op(root, "Reshape")) return false;
    mids.push_back(pv->output(0));
    mids.push_back(tr->output(0));

    // Scores and mask.
    double scale = 1.0;
    ir::Value* s = sm->input(0);
    ir::Value* mask = nullptr;
    ir::Node* add = producer_if(s, "Add");
    if (add) {
      for (int i = 0; i < 2 && !mask; ++i) {
        double sc_scale = 1.0;
        std::vector<const ir::Value*> sc_mids;
        ir::Value* sc = strip_scale(add->input(i), &sc_scale, &sc_mids);
        if (producer_if(sc, "MatMul")) {
          mask = add->input(1 - i);
          s = sc;
          scale = sc_scale;
          mids.insert(mids.end(), sc_mids.begin(), sc_mids.end());
        }
      }
      if (!mask) return false;
    } else {
      s = strip_scale(s, &scale, &mids);
    }
    ir::Node* qk = producer_if(s, "MatMul");
    if (!qk) return false;
    mids.push_back(s);
    Proj q, k, v;
    PastKv pkv;  // set when K and V are concatenated after a KV cache (GPT-2 with past)
    ir::Value *kv_k = nullptr, *kv_v = nullptr;  // cached cross-attention K / V (BNSH)
    if (!match_proj(qk->input(0), false, &scale, &q, &mids)) return false;
    const size_t n_mids = mids.size();
    const double q_scale = scale;
    if (!match_proj(qk->input(1), true, &scale, &k, &mids)) {
      mids.resize(n_mids);
      scale = q_scale;
      k = Proj{};
      if (!match_past_key(qk->input(1), &scale, &k, &pkv, &mids)) {
        mids.resize(n_mids);
        scale = q_scale;
        k = Proj{};
        pkv = PastKv{};
        if (!match_cached_kv(qk->input(1), pv, &scale, &kv_k, &kv_v, &mids)) return false;
      }
    }
    const bool cached = kv_k != nullptr;
    double v_scale = 1.0;
    if (cached) {
      // K and V are the cached inputs themselves.
    } else if (pkv.kcat) {
      if (!match_past_value(pv, &v, &pkv, &mids)) return false;
    } else if (!match_proj(pv->input(1), false, &v_scale, &v, &mids) || v_scale != 1.0) {
      return false;
    }
    if (!q.x || (!cached && (!k.x || k.x != v.x))) return false;
    // K and V from another sequence (T5's encoder output) or its cache.
    const bool cross = cached || q.x != k.x;
    for (const ir::Value* x : {q.x, k.x})
      if (x && rank_of(x) >= 0 && rank_of(x) != 3) return false;  // X is [batch, seq, hidden]
    if (!all_sole_use(mids)) return false;
    const int64_t hidden_in = q.w->shape()[0];
    const int64_t hq = q.w->shape()[1] / (!cached && q.w == k.w ? 3 : 1);
    if (cached && q.col0 != 0) return false;
    if (!cached) {
      for (const Proj* pr : {&k, &v})
        if ((!cross && pr->w->shape()[0] != hidden_in) ||
            pr->w->shape()[1] / (pr->w == q.w ? 3 : 1) != hq)
          return false;
      if (k.w->shape()[0] != v.w->shape()[0]) return false;
      if ((q.w == k.w) != (q.w == v.w)) return false;
    }
    int64_t n = -1, h = -1;
    for (const Proj* pr : {&q, &k, &v}) {
      if (pr->num_heads > 0) n = pr->num_heads;
      if (pr->head_size > 0) h = pr->head_size;
    }
    if (n <= 0 && h > 0 && hq % h == 0) n = hq / h;
    if (n <= 0 || hq % n != 0) return false;
    h = hq / n;
    for (const Proj* pr : {&q, &k, &v})
      if ((pr->num_heads > 0 && pr->num_heads != n) || (pr->head_size > 0 && pr->head_size != h))
        return false;
    if (noop_reshape && !is_heads_reshape(noop_reshape->input(1), n, h, q, v, pv)) return false;
    // Output reshape to [B, S, hidden].
    if (auto c = ints_of(root->input(1))) {
      if (c->size() != 3 || (c->back() != -1 && c->back() != hq)) return false;
    } else if (ir::Node* cat = producer_if(root->input(1), "Concat")) {
      auto last = cat->inputs().size() == 3 ? ints_of(cat->input(2)) : std::nullopt;
      if (!last || last->size() != 1 || ((*last)[0] != -1 && (*last)[0] != hq)) return false;
    } else {
      return false;
    }
    if (cached) {
      for (const ir::Value* x : {kv_k, kv_v}) {
        const auto& dims = x->info().dims;
        if ((dims[1].known() && dims[1].value != n) || (dims[3].known() && dims[3].value != h))
          return false;
      }
      if (!same_dim(kv_k, kv_v, 2) || !same_dim(kv_k, kv_v, 1)) return false;
    }
    if (pkv.kcat) {
      // past_key / past_value are [B, N, P, h]; the new K and V are projections to [B, S, N*h].
      if (!q.flat || !k.flat || !v.flat || rank_of(q.x) != 3) return false;
      if ((pkv.past_k == nullptr) != (pkv.past_v == nullptr)) return false;
      for (ir::Value* pst : {pkv.past_k, pkv.past_v}) {
        if (!pst) continue;
        const auto& dims = pst->info().dims;
        if (!pst->info().has_shape || dims.size() != 4) return false;
        if ((dims[1].known() && dims[1].value != n) || (dims[3].known() && dims[3].value != h))
          return false;
      }
      if (!same_dim(pkv.past_k, pkv.past_v, 2)) return false;
    }
    ir::Value* mask32 = nullptr;
    ir::Value* attn_bias = nullptr;  // T5's position bias (+ mask), added to the scores as is
    bool causal = false;
    std::set<const ir::Value*> table_seen;
    if (mask && reads_float_table(mask, &table_seen)) {
      if (!is_bias_shape(mask, n) || dtype_of(mask) != DType::kFloat32) return false;
      attn_bias = mask;
    } else if (mask) {
      MaskTrace t;
      std::set<const ir::Value*> seen;
      trace_mask(mask, &t, &seen);
      if (!t.ok || !t.big_negative || t.inputs.size() != 1) return false;
      causal = t.causal;
      // With a KV cache the causal condition must shift the query positions by the past length
      // (what unidirectional means there); without one it must not.
      if (causal && (t.past != nullptr) != (pkv.past_k != nullptr)) return false;
      if (t.past && !same_dim(t.past, pkv.past_k, 2)) return false;
      ir::Value* in = *t.inputs.begin();
      if (rank_of(in) != 2) return false;
      DType dt = in->info().dtype;
      if (dt != DType::kInt64 && dt != DType::kInt32 && dt != DType::kBool && dt != DType::kFloat32)
        return false;
      mask32 = raw_mask_int32(g, in);
      if (!mask32) return false;
    }
    std::vector<std::pair<std::string, ir::Attribute>> attrs{{"num_heads", make_int_attr(n)}};
    if (causal) attrs.push_back({"unidirectional", make_int_attr(1)});
    const double default_scale = 1.0 / std::sqrt(static_cast<double>(h));
    if (!near(scale, default_scale, 1e-6)) attrs.push_back({"scale", make_float_attr(scale)});
    if (pkv.kcat || cross || attn_bias || !q.b || !k.b || !v.b) {
      ir::Value* kin = cached ? kv_k : k.flat;
      ir::Value* vin = cached ? kv_v : v.flat;
      // MultiHeadAttention(q, k, v, -, key_padding_mask, attention_bias[, past_key,
      // past_value]) -> output[, present_key, present_value]: the presents keep their graph
      // output names. The projections (with their biases) stay in place.
      if (!q.flat || !kin || !vin) return false;
      std::vector<ir::Value*> ins{q.flat, kin, vin, nullptr, mask32, attn_bias};
      std::vector<ir::Value*> presents;
      if (pkv.kcat) {
        presents = {pkv.kcat->output(0), pkv.vcat->output(0)};
        if (!reroute_present_shapes(g, pkv.kcat, ins) || !reroute_present_shapes(g, pkv.vcat, ins))
          return false;
        g.remove_node(pkv.kcat);
        g.remove_node(pkv.vcat);
        if (pkv.past_k) {
          ins.push_back(pkv.past_k);
          ins.push_back(pkv.past_v);
        }
      }
      while (!ins.back()) ins.pop_back();
      KILN_ASSIGN_OR_RETURN(ir::Node * f, replace_with(g, root, "MultiHeadAttention", kMsDomain,
                                                       ins, attrs, presents));
      (void)f;
      ctx.stats.add("MultiHeadAttention");
      return true;
    }
    // Packed weights [hidden_in, 3 hq] and bias [3 hq].
    std::vector<float> w(static_cast<size_t>(hidden_in * 3 * hq)), b(3 * hq);
    const Proj* parts[3] = {&q, &k, &v};
    for (int j = 0; j < 3; ++j) {
      const Proj* pr = parts[j];
      const int64_t cols = pr->w->shape()[1];
      const float* src = pr->w->data<float>();
      for (int64_t r = 0; r < hidden_in; ++r)
        for (int64_t c = 0; c < hq; ++c) w[r * 3 * hq + j * hq + c] = src[r * cols + pr->col0 + c];
      for (int64_t c = 0; c < hq; ++c) b[j * hq + c] = pr->b->data<float>()[pr->col0 + c];
    }
    ir::Value* wv =
        add_constant(g, "Attention_qkv_weight", Tensor::from_vector<float>({hidden_in, 3 * hq}, w));
    ir::Value* bv = add_constant(g, "Attention_qkv_bias", Tensor::from_vector<float>({3 * hq}, b));
    std::vector<ir::Value*> ins{q.x, wv, bv};
    if (mask32) ins.push_back(mask32);
    KILN_ASSIGN_OR_RETURN(ir::Node * f, replace_with(g, root, "Attention", kMsDomain, ins, attrs));
    (void)f;
    ctx.stats.add("Attention");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_attention_fusion() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<AttentionPattern>());
  return std::make_unique<PatternPass>("attention_fusion", std::move(p));
}

}  // namespace kiln::passes
