// BERT embeddings (level 2, after skip_layer_norm_fusion):
//   LayerNormalization(Gather(word, ids) + Gather(position, pos) [+ Gather(segment, seg)])
//   -> com.microsoft EmbedLayerNormalization(ids32, seg32, word, position, segment, gamma, beta)
// in any order and association of the Adds, when the tables are 2-D constants of the same width,
// ids (and seg) are graph inputs of shape [batch, seq], and pos is the standard range 0..seq-1:
// a constant arange, or the exporters' Slice(arange buffer, 0, seq) with seq read from the ids'
// shape. Position ids computed from the input (RoBERTa's padding offset) are left alone, as
// ONNX Runtime leaves them. int64 ids are cast to int32 (one Cast per input, shared).
#include "graph/passes/extended_passes.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/util.h"

namespace kiln::passes {

namespace {

bool is_arange(const Tensor* t, int64_t* n) {
  if (!t || t->numel() < 1) return false;
  if (t->rank() > 2 || (t->rank() == 2 && t->shape()[0] != 1)) return false;
  auto* v = t;
  for (int64_t i = 0; i < v->numel(); ++i) {
    int64_t x = v->dtype() == DType::kInt64   ? v->data<int64_t>()[i]
                : v->dtype() == DType::kInt32 ? v->data<int32_t>()[i]
                                              : -1;
    if (x != i) return false;
  }
  *n = t->numel();
  return true;
}

// `v` is Unsqueeze(Gather(Shape(s), 1), [0]) (or Reshape to [1]) with s the ids or the word
// embedding output: the sequence length as a 1-element tensor.
bool is_seq_len_of(const ir::Value* v, const ir::Value* ids, const ir::Value* word_out) {
  ir::Node* u = v ? v->producer() : nullptr;
  if (!u || (!is_op(u, "Unsqueeze") && !is_op(u, "Reshape"))) return false;
  ir::Node* gat = producer_if(u->input(0), "Gather");
  if (!gat) return false;
  auto idx = scalar_of(gat->input(1));
  if (!idx || *idx != 1) return false;
  ir::Node* shape = producer_if(gat->input(0), "Shape");
  if (!shape || shape->attr("start") || shape->attr("end")) return false;
  return shape->input(0) == ids || shape->input(0) == word_out;
}

bool is_position_range(const ir::Value* pos, const ir::Value* ids, const ir::Value* word_out) {
  int64_t n = 0;
  const int rank = rank_of(ids);
  const ir::Dim* seq = rank == 2 ? &ids->info().dims[1] : nullptr;
  if (is_arange(constant_of(pos), &n)) return seq && seq->known() && seq->value == n;
  ir::Node* sl = producer_if(pos, "Slice");
  if (!sl || sl->inputs().size() < 3) return false;
  const Tensor* data = constant_of(sl->input(0));
  if (!is_arange(data, &n)) return false;
  auto starts = ints_of(sl->input(1));
  if (!starts || starts->size() != 1 || (*starts)[0] != 0) return false;
  if (sl->input(3)) {
    auto axes = ints_of(sl->input(3));
    const int64_t last = data->rank() - 1;
    if (!axes || axes->size() != 1 || ((*axes)[0] != last && (*axes)[0] != -1)) return false;
  } else if (data->rank() != 1) {
    return false;
  }
  if (sl->input(4)) {
    auto steps = ints_of(sl->input(4));
    if (!steps || steps->size() != 1 || (*steps)[0] != 1) return false;
  }
  auto ends = ints_of(sl->input(2));
  if (ends) return ends->size() == 1 && seq && seq->known() && seq->value == (*ends)[0];
  return is_seq_len_of(sl->input(2), ids, word_out);
}

struct Leaf {
  ir::Value* out;    // the Gather output
  ir::Value* table;  // the embedding table
  ir::Value* ids;    // the indices
};

// The leaves of a tree of at most two Adds whose inner values are read once.
bool collect_leaves(ir::Value* v, int depth, std::vector<ir::Value*>* leaves,
                    std::vector<const ir::Value*>* mids) {
  ir::Node* add = producer_if(v, "Add");
  if (add && depth < 2 && add->inputs().size() == 2) {
    if (depth > 0) mids->push_back(v);
    return collect_leaves(add->input(0), depth + 1, leaves, mids) &&
           collect_leaves(add->input(1), depth + 1, leaves, mids);
  }
  if (depth == 0) return false;
  leaves->push_back(v);
  return true;
}

ir::Value* int32_of(ir::Graph& g, ir::Value* ids) {
  if (ids->info().dtype == DType::kInt32) return ids;
  for (ir::Node* u : ids->users()) {
    auto to = int_attr_of(u, "to");
    if (is_op(u, "Cast") && to && *to == 6) return u->output(0);
  }
  ir::ValueInfo info = ids->info();
  info.dtype = DType::kInt32;
  ir::Value* out = new_value(g, ids->name() + "_int32", info);
  auto n = g.add_node("Cast", "", {ids}, {out}, g.unique_name("Cast_" + ids->name()));
  if (!n.has_value()) return nullptr;
  (*n)->set_attr("to", make_int_attr(6));
  return out;
}

class EmbedLayerNormPattern : public RewritePattern {
 public:
  std::string name() const override { return "embed_layer_norm_fusion"; }
  std::vector<std::string> target_ops() const override { return {"LayerNormalization"}; }
  Expected<bool> apply(ir::Graph& g, ir::Node* ln, PassContext& ctx) override {
    if (ln->inputs().size() < 2) return false;
    for (size_t i = 1; i < ln->outputs().size(); ++i)
      if (ln->output(i) && (!ln->output(i)->users().empty() || ln->output(i)->is_graph_output()))
        return false;
    auto axis = int_attr_of(ln, "axis");
    if (axis && *axis != -1 && *axis != 2) return false;
    std::vector<ir::Value*> leaf_vals;
    std::vector<const ir::Value*> mids;
    ir::Value* sum = ln->input(0);
    if (!collect_leaves(sum, 0, &leaf_vals, &mids) || !all_used_once(mids)) return false;
    if (leaf_vals.size() < 2 || leaf_vals.size() > 3) return false;
    std::vector<Leaf> leaves;
    int64_t width = -1;
    for (ir::Value* v : leaf_vals) {
      ir::Node* gat = producer_if(v, "Gather");
      if (!gat || int_attr_of(gat, "axis").value_or(0) != 0 || v->is_graph_output()) return false;
      // Besides the Add, only Shape may read the lookup (the exporters' sequence length).
      size_t non_shape = 0;
      for (ir::Node* u : v->users()) non_shape += is_op(u, "Shape") ? 0 : 1;
      if (non_shape != 1) return false;
      if (!gat->input(1)) return false;
      const Tensor* t = constant_of(gat->input(0));
      if (!t || t->rank() != 2 || t->dtype() != DType::kFloat32) return false;
      if (width >= 0 && t->shape()[1] != width) return false;
      width = t->shape()[1];
      leaves.push_back({v, gat->input(0), gat->input(1)});
    }
    // Word and segment ids are [batch, seq] graph inputs; the larger table is the word one.
    Leaf* word = nullptr;
    Leaf* segment = nullptr;
    Leaf* position = nullptr;
    std::vector<Leaf*> inputs_ids;
    for (Leaf& l : leaves)
      if (l.ids->is_graph_input() && rank_of(l.ids) == 2) inputs_ids.push_back(&l);
    if (inputs_ids.empty() || inputs_ids.size() + 1 != leaves.size()) return false;
    word = inputs_ids[0];
    if (inputs_ids.size() == 2) {
      segment = inputs_ids[1];
      if (constant_of(segment->table)->shape()[0] > constant_of(word->table)->shape()[0])
        std::swap(word, segment);
    }
    for (Leaf& l : leaves)
      if (&l != word && &l != segment) position = &l;
    if (!position || !is_position_range(position->ids, word->ids, word->out)) return false;
    ir::Value* gamma = ln->input(1);
    ir::Value* beta = ln->input(2);
    if (const_1d_size(gamma) != width) return false;
    if (beta && const_1d_size(beta) != width) return false;
    if (!beta)
      beta = add_constant(g, "embed_ln_zero_bias",
                          Tensor::from_vector<float>({width}, std::vector<float>(width, 0.f)));
    ir::Value* ids32 = int32_of(g, word->ids);
    ir::Value* seg32 = segment ? int32_of(g, segment->ids) : nullptr;
    if (!ids32 || (segment && !seg32)) return false;
    ir::ValueInfo mask_info;
    mask_info.dtype = DType::kInt32;
    ir::Value* mask_index = new_value(g, ln->output(0)->name() + "_mask_index", mask_info);
    float eps = float_attr_of(ln, "epsilon").value_or(1e-5f);
    std::vector<ir::Value*> ins{
        ids32, seg32, word->table, position->table, segment ? segment->table : nullptr,
        gamma, beta};
    KILN_ASSIGN_OR_RETURN(ir::Node * f,
                          replace_with(g, ln, "EmbedLayerNormalization", kMsDomain, ins,
                                       {{"epsilon", make_float_attr(eps)}}, {mask_index}));
    // Shape readers of the word lookup read the fused output instead (same shape).
    std::vector<ir::Node*> shape_users;
    for (ir::Node* u : word->out->users())
      if (is_op(u, "Shape")) shape_users.push_back(u);
    for (ir::Node* u : shape_users) g.set_node_input(u, 0, f->output(0));
    take_back(ctx.stats, "LayerNormalization");
    ctx.stats.add("EmbedLayerNormalization");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_embed_layer_norm_fusion() {
  std::vector<std::unique_ptr<RewritePattern>> p;
  p.push_back(std::make_unique<EmbedLayerNormPattern>());
  return std::make_unique<PatternPass>("embed_layer_norm_fusion", std::move(p));
}

}  // namespace kiln::passes
