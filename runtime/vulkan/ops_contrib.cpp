// Vulkan kernels for ONNX Runtime contrib ops (com.microsoft, float32): the Gelu family and
// BiasAdd (shaders/contrib_act.comp), SkipLayerNormalization / SkipSimplifiedLayerNormalization /
// SimplifiedLayerNormalization (shaders/contrib_norm.comp), EmbedLayerNormalization
// (shaders/contrib_embed.comp) and FusedMatMul (the MatMul shader, shaders/matmul.comp);
// Attention and MultiHeadAttention are in ops_attention.cpp. Semantics follow the CPU references
// in runtime/cpu/ops/contrib_*.cpp; anything those accept but these kernels do not handle (and
// anything invalid, which the CPU then reports) gets a "no" with the reason from supports().
#include <algorithm>
#include <cstring>

#include "runtime/cpu/ops/common.h"
#include "runtime/vulkan/ops_contrib_internal.h"

namespace kiln::vulkan {

namespace contrib {

Params& Params::f(float v) {
  uint32_t w;
  std::memcpy(&w, &v, 4);
  return u(w);
}

Expected<int> ContribKernel::add_scratch(int64_t elems) {
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(elems, 1)) * 4;
  KILN_ASSIGN_OR_RETURN(auto buf, ctx_.allocate(bytes));
  DeviceTensor t;
  t.desc = {DType::kFloat32, {std::max<int64_t>(elems, 1)}};
  t.buffer = std::move(buf);
  scratch_.push_back(std::move(t));
  return static_cast<int>(scratch_.size() - 1);
}

Status ContribKernel::init_dummy() {
  KILN_ASSIGN_OR_RETURN(auto buf, ctx_.allocate(256));
  dummy_.desc = {DType::kFloat32, {4}};
  dummy_.buffer = std::move(buf);
  return Status::ok();
}

Status ContribKernel::enqueue(const std::vector<DeviceTensor>& inputs,
                              const std::vector<DeviceTensor>& outputs) {
  for (const CStep& s : steps_) {
    VkDispatch d;
    d.push = s.push;
    for (int g = 0; g < 3; ++g) d.groups[g] = s.groups[g];
    bool vec4_ok = s.pipe_vec4 != nullptr;
    for (size_t k = 0; k < s.refs.size(); ++k) {
      const CRef& r = s.refs[k];
      const DeviceTensor* t = &dummy_;
      if (r.kind == CRef::kScratch) {
        t = &scratch_.at(static_cast<size_t>(r.index));
      } else if (r.kind != CRef::kDummy) {
        const auto& list = r.kind == CRef::kOutput ? outputs : inputs;
        if (r.index < 0 || r.index >= static_cast<int>(list.size()) || !list[r.index].buffer)
          return internal_error(name_ + ": " + (r.kind == CRef::kOutput ? "output " : "input ") +
                                std::to_string(r.index) + " is not on the device");
        t = &list[static_cast<size_t>(r.index)];
      }
      if (!t->buffer) return internal_error(name_ + ": the dummy buffer was not allocated");
      uint32_t elem_off = 0;
      KILN_ASSIGN_OR_RETURN(VkBinding b, ctx_.bind(*t, 4, r.write, &elem_off));
      if (k < kPushWords) d.push[k] = elem_off;
      if (std::find(s.vec4_refs.begin(), s.vec4_refs.end(), static_cast<int>(k)) !=
              s.vec4_refs.end() &&
          elem_off % 4 != 0)
        vec4_ok = false;
      d.bindings.push_back(std::move(b));
    }
    if (s.require_vec4 && !vec4_ok)
      return unsupported(name_ + ": the tensors' offsets are not 16-byte aligned, which this " +
                         "shape needs on Vulkan");
    d.pipe = vec4_ok ? s.pipe_vec4 : s.pipe;
    if (vec4_ok)
      for (int g = 0; g < 3; ++g) d.groups[g] = s.groups_vec4[g];
    ctx_.enqueue(std::move(d));
  }
  return Status::ok();
}

Expected<CStep> grid_step(VkContext& ctx, const std::string& variant, std::vector<CRef> refs,
                          const Params& p, int64_t n, uint32_t local) {
  if (p.overflow()) return internal_error(variant + ": too many push constants");
  CStep s;
  KILN_ASSIGN_OR_RETURN(s.pipe,
                        ctx.pipeline(variant, static_cast<uint32_t>(refs.size()), local, 1));
  s.refs = std::move(refs);
  s.push = p.words();
  s.groups[0] = grid_groups(n, local);
  return s;
}

bool has_in(const std::vector<InputInfo>& in, size_t i) {
  return i < in.size() && in[i].present;
}

bool is_f32(const std::vector<InputInfo>& in, size_t i) {
  return has_in(in, i) && in[i].desc.dtype == DType::kFloat32;
}

bool wants_output(const ir::Node& n, size_t o) {
  return o < n.outputs().size() && n.outputs()[o] != nullptr;
}

std::vector<TensorDesc> output_descs(const ir::Node& n, const std::vector<TensorDesc>& present) {
  std::vector<TensorDesc> out(n.outputs().size(), TensorDesc{DType::kFloat32, {1}});
  for (size_t i = 0; i < out.size() && i < present.size(); ++i)
    if (wants_output(n, i)) out[i] = present[i];
  return out;
}

}  // namespace contrib

namespace {

using namespace contrib;
using ops::attr_f;
using ops::attr_i;

bool fits(int64_t v) {
  return v >= 0 && v < INT_MAX;
}

// llvmpipe ends a shader's loops after 65535 iterations in total per invocation: a row shader
// (one invocation per row, grid-stride over at most 65535 workgroups of `local`) must stay below.
bool row_loops_fit(int64_t rows, int64_t per_row, uint32_t local) {
  const int64_t lanes = int64_t{65535} * local;
  return (rows + lanes - 1) / lanes * (per_row + 1) <= 60000;
}

// --- Gelu family and BiasAdd ---------------------------------------------------------------------

struct ActForm {
  int op = 0;  // contrib_act.comp's op code
  int bias = -1, skip = -1;
};

ActForm act_form(const ir::Node& n, const std::vector<InputInfo>& in) {
  const std::string& op = n.op_type();
  if (op == "Gelu") return {1, -1, -1};
  if (op == "BiasGelu") return {1, 1, -1};
  if (op == "FastGelu") return {2, has_in(in, 1) ? 1 : -1, -1};
  if (op == "QuickGelu") return {3, -1, -1};
  return {0, 1, 2};  // BiasAdd
}

Support act_supports(const VkContext&, const ir::Node& n, const std::vector<InputInfo>& in) {
  if (!is_f32(in, 0)) return Support::no("only float32 contrib kernels exist on Vulkan");
  const ActForm f = act_form(n, in);
  const Shape& xs = in[0].desc.shape;
  if (n.op_type() == "BiasGelu" && !has_in(in, 1)) return Support::no("missing input 'B'");
  if (n.op_type() == "BiasAdd") {
    if (!has_in(in, 1) || !has_in(in, 2)) return Support::no("needs inputs X, bias and skip");
    if (xs.size() != 3) return Support::no("X must be 3-D [N, S, C]");
  }
  if (f.bias >= 0) {
    if (xs.empty()) return Support::no("X must have rank >= 1");
    if (!is_f32(in, f.bias) || in[f.bias].desc.shape != Shape{xs.back()})
      return Support::no("bias must be float32 1-D of X's last dim");
  }
  if (f.skip >= 0 && (!is_f32(in, f.skip) || in[f.skip].desc.shape != xs))
    return Support::no("skip must be float32 of X's shape");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> act_prepare(VkContext& ctx, const ir::Node& n,
                                                    const std::vector<InputInfo>& in) {
  const ActForm f = act_form(n, in);
  const Shape& xs = in[0].desc.shape;
  const int64_t numel = numel_of(xs);
  const int64_t c = xs.empty() ? 1 : std::max<int64_t>(xs.back(), 1);
  auto k = std::make_unique<ContribKernel>(ctx, "contrib_" + n.op_type());
  KILN_RETURN_IF_ERROR(k->init_dummy());
  if (numel > 0) {
    Params p(4);
    p.u(f.op).u(numel).u(c).u((f.bias >= 0 ? 1 : 0) | (f.skip >= 0 ? 2 : 0));
    p.f(attr_f(n, "alpha", 1.702f));
    KILN_ASSIGN_OR_RETURN(
        CStep s, grid_step(ctx, "contrib_act_f32",
                           {ref_in(0), ref_in(f.bias), ref_in(f.skip), ref_out(0)}, p, numel));
    k->add_step(std::move(s));
  }
  k->set_outputs({in[0].desc});
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

// --- normalisations ------------------------------------------------------------------------------

enum NormFlags {
  kSkip = 1,
  kBeta = 2,
  kBias = 4,
  kSimplified = 8,
  kMean = 16,
  kInv = 32,
  kSum = 64
};

struct NormForm {
  bool skip_form = false;  // SkipLayerNormalization / SkipSimplifiedLayerNormalization
  bool simplified = false;
  int beta = -1, bias = -1;
  int64_t rows = 0, h = 0, skip_rows = 1, axis = 0;
  float eps = 0;
};

Expected<NormForm> norm_form(const ir::Node& n, const std::vector<InputInfo>& in) {
  NormForm f;
  const std::string& op = n.op_type();
  f.skip_form = op != "SimplifiedLayerNormalization";
  f.simplified = op != "SkipLayerNormalization";
  if (!is_f32(in, 0)) return unsupported("only float32 normalisation kernels exist on Vulkan");
  const Shape& xs = in[0].desc.shape;
  if (f.skip_form) {
    if (!has_in(in, 1) || !has_in(in, 2))
      return invalid_argument("needs inputs 'input', 'skip' and 'gamma'");
    if (xs.size() != 2 && xs.size() != 3) return invalid_argument("input must be 2-D or 3-D");
    f.h = xs.back();
    if (f.h <= 0) return invalid_argument("hidden size is 0");
    const Shape& ss = in[1].desc.shape;
    const bool bcast =
        xs.size() == 3 && ((ss.size() == 3 && ss[0] == 1 && ss[1] == xs[1] && ss[2] == f.h) ||
                           (ss.size() == 2 && ss[0] == xs[1] && ss[1] == f.h));
    if (ss != xs && !bcast) return invalid_argument("skip's shape does not fit the input");
    if (!is_f32(in, 1)) return unsupported("skip must be float32");
    f.beta = !f.simplified && has_in(in, 3) ? 3 : -1;
    const int bias_i = f.simplified ? 3 : 4;
    f.bias = has_in(in, bias_i) ? bias_i : -1;
    for (int i : {2, f.beta, f.bias})
      if (i >= 0 && (!is_f32(in, i) || in[i].desc.shape != Shape{f.h}))
        return invalid_argument("gamma / beta / bias must be float32 1-D of the hidden size");
    f.rows = numel_of(xs) / f.h;
    f.skip_rows = std::max<int64_t>(numel_of(ss) / f.h, 1);
    f.eps = attr_f(n, "epsilon", 1e-12f);
  } else {
    if (!is_f32(in, 1)) return unsupported("scale must be float32");
    const int64_t rank = static_cast<int64_t>(xs.size());
    if (rank == 0) return invalid_argument("X must have rank >= 1");
    int64_t axis = attr_i(n, "axis", -1);
    if (axis < -rank || axis >= rank) return invalid_argument("axis out of range");
    if (axis < 0) axis += rank;
    f.axis = axis;
    if (attr_i(n, "stash_type", 1) != 1) return unsupported("stash_type other than 1");
    f.h = 1;
    for (int64_t d = axis; d < rank; ++d) f.h *= xs[static_cast<size_t>(d)];
    if (f.h <= 0) return unsupported("an empty normalised size runs on the CPU");
    if (in[1].desc.numel() != f.h) return invalid_argument("scale size does not match");
    f.rows = numel_of(xs) / f.h;
    f.eps = attr_f(n, "epsilon", 1e-5f);
  }
  if (!(f.eps >= 0)) return invalid_argument("epsilon must be >= 0");
  if (!fits(f.rows * f.h)) return unsupported("too many elements for the shader");
  if (!row_loops_fit(f.rows, 3 * f.h, 32))
    return unsupported("rows of " + std::to_string(f.h) +
                       " elements are too long for one shader invocation");
  return f;
}

Support norm_supports(const VkContext&, const ir::Node& n, const std::vector<InputInfo>& in) {
  auto f = norm_form(n, in);
  if (!f) return Support::no(f.status().message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> norm_prepare(VkContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(NormForm f, norm_form(n, in));
  const Shape& xs = in[0].desc.shape;
  int flags = 0;
  if (f.skip_form) flags |= kSkip;
  if (f.beta >= 0) flags |= kBeta;
  if (f.bias >= 0) flags |= kBias;
  if (f.simplified) flags |= kSimplified;
  Shape stat = xs;
  int mean_o = -1, inv_o = -1, sum_o = -1;
  std::vector<TensorDesc> outs = {in[0].desc};
  if (f.skip_form) {
    stat.back() = 1;
    mean_o = 1;
    inv_o = 2;
    sum_o = 3;
    outs.push_back({DType::kFloat32, stat});
    outs.push_back({DType::kFloat32, stat});
    outs.push_back(in[0].desc);
  } else {
    for (size_t d = static_cast<size_t>(f.axis); d < xs.size(); ++d) stat[d] = 1;
    inv_o = 1;
    outs.push_back({DType::kFloat32, stat});
  }
  const bool want_mean = mean_o >= 0 && wants_output(n, static_cast<size_t>(mean_o));
  const bool want_inv = wants_output(n, static_cast<size_t>(inv_o));
  const bool want_sum = sum_o >= 0 && wants_output(n, static_cast<size_t>(sum_o));
  if (want_mean) flags |= kMean;
  if (want_inv) flags |= kInv;
  if (want_sum) flags |= kSum;
  auto k = std::make_unique<ContribKernel>(ctx, "contrib_" + n.op_type());
  KILN_RETURN_IF_ERROR(k->init_dummy());
  if (f.rows > 0) {
    Params p(9);
    p.u(f.rows).u(f.h).u(f.skip_rows).f(f.eps).u(flags);
    KILN_ASSIGN_OR_RETURN(
        CStep s, grid_step(ctx, "contrib_norm_f32",
                           {ref_in(0), ref_in(f.skip_form ? 1 : -1), ref_in(f.skip_form ? 2 : 1),
                            ref_in(f.beta), ref_in(f.bias), ref_out(0), ref_out(mean_o, want_mean),
                            ref_out(inv_o, want_inv), ref_out(sum_o, want_sum)},
                           p, f.rows, 32));
    k->add_step(std::move(s));
  }
  k->set_outputs(output_descs(n, outs));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

// --- EmbedLayerNormalization ---------------------------------------------------------------------

Status need_ids(const std::vector<InputInfo>& in, size_t i, const Shape& ids, bool allow_b1,
                const char* what) {
  if (!has_in(in, i)) return Status::ok();
  const Shape& s = in[i].desc.shape;
  const bool shape_ok =
      s.size() == 2 && s[1] == ids[1] && (s[0] == ids[0] || (allow_b1 && s[0] == 1));
  if (!shape_ok || in[i].desc.dtype != DType::kInt32)
    return invalid_argument(std::string(what) + " must be int32 of input_ids' shape");
  return Status::ok();
}

Status embed_check(const ir::Node& n, const std::vector<InputInfo>& in) {
  for (size_t i : {0, 2, 3, 5, 6})
    if (!has_in(in, i)) return invalid_argument("missing input " + std::to_string(i));
  const Shape& ids = in[0].desc.shape;
  if (ids.size() != 2 || in[0].desc.dtype != DType::kInt32)
    return invalid_argument("input_ids must be a 2-D int32 tensor");
  if (ids[1] == 0) return unsupported("an empty sequence runs on the CPU");
  KILN_RETURN_IF_ERROR(need_ids(in, 1, ids, false, "segment_ids"));
  KILN_RETURN_IF_ERROR(need_ids(in, 7, ids, false, "mask"));
  KILN_RETURN_IF_ERROR(need_ids(in, 8, ids, true, "position_ids"));
  if (has_in(in, 1) != has_in(in, 4))
    return invalid_argument("segment_ids and segment_embedding must be given together");
  const Shape& w = in[2].desc.shape;
  if (w.size() != 2 || !is_f32(in, 2)) return unsupported("word_embedding must be float32 2-D");
  const int64_t h = w[1];
  if (h <= 0) return invalid_argument("hidden size is 0");
  for (int i : {3, 4}) {
    if (!has_in(in, i)) continue;
    const Shape& s = in[i].desc.shape;
    if (!is_f32(in, i) || s.size() != 2 || s[1] != h)
      return invalid_argument("position / segment embeddings must be float32 [rows, hidden]");
  }
  for (int i : {5, 6})
    if (!is_f32(in, i) || in[i].desc.shape != Shape{h})
      return invalid_argument("gamma / beta must be float32 1-D of the hidden size");
  if (!(attr_f(n, "epsilon", 1e-12f) >= 0)) return invalid_argument("epsilon must be >= 0");
  if (!fits(ids[0] * ids[1] * h)) return unsupported("too many elements for the shader");
  if (!row_loops_fit(ids[0] * ids[1], 3 * h + ids[1], 32))
    return unsupported("rows of " + std::to_string(h) +
                       " elements are too long for one shader invocation");
  return Status::ok();
}

Support embed_supports(const VkContext&, const ir::Node& n, const std::vector<InputInfo>& in) {
  Status s = embed_check(n, in);
  if (!s.is_ok()) return Support::no(s.message());
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> embed_prepare(VkContext& ctx, const ir::Node& n,
                                                      const std::vector<InputInfo>& in) {
  KILN_RETURN_IF_ERROR(embed_check(n, in));
  const int64_t batch = in[0].desc.shape[0], seq = in[0].desc.shape[1];
  const int64_t h = in[2].desc.shape[1];
  const bool seg = has_in(in, 1), mask = has_in(in, 7), pos = has_in(in, 8);
  const bool want_mi = wants_output(n, 1), want_sum = wants_output(n, 2);
  const int flags =
      (seg ? 1 : 0) | (pos ? 2 : 0) | (mask ? 4 : 0) | (want_mi ? 8 : 0) | (want_sum ? 16 : 0);
  auto k = std::make_unique<ContribKernel>(ctx, "contrib_EmbedLayerNormalization");
  KILN_RETURN_IF_ERROR(k->init_dummy());
  if (batch * seq > 0) {
    Params p(12);
    p.u(batch).u(seq).u(h).u(in[2].desc.shape[0]).u(in[3].desc.shape[0]);
    p.u(seg ? in[4].desc.shape[0] : 0).u(pos ? in[8].desc.shape[0] : 1);
    p.f(attr_f(n, "epsilon", 1e-12f)).u(flags);
    KILN_ASSIGN_OR_RETURN(
        CStep s,
        grid_step(ctx, "contrib_embed_f32",
                  {ref_in(0), ref_in(seg ? 1 : -1), ref_in(2), ref_in(3), ref_in(seg ? 4 : -1),
                   ref_in(5), ref_in(6), ref_in(mask ? 7 : -1), ref_in(pos ? 8 : -1), ref_out(0),
                   ref_out(1, want_mi), ref_out(2, want_sum)},
                  p, batch * seq, 32));
    k->add_step(std::move(s));
  }
  k->set_outputs(output_descs(n, {{DType::kFloat32, {batch, seq, h}},
                                  {DType::kInt32, {batch}},
                                  {DType::kFloat32, {batch, seq, h}}}));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

// --- FusedMatMul ---------------------------------------------------------------------------------

// The vec4 GEMM configuration of ops_matmul.cpp (its measured default).
constexpr const char* kGemmVec4 = "matmul_f32_vec4_tn8";
constexpr uint32_t kVecTm = 4, kVecTn = 8, kVecLx = 8, kVecLy = 8;
constexpr uint32_t kLx = 8, kLy = 8, kTm = 4;  // the scalar variant

struct FmmGeometry {
  int64_t M = 0, N = 0, K = 0;
  std::vector<int64_t> batch, a_bs, b_bs;
  int64_t sam = 0, sak = 0, sbk = 0, sbn = 0;
  Shape out;
};

Expected<FmmGeometry> fmm_geometry(const ir::Node& n, const Shape& a, const Shape& b) {
  if (a.size() < 2 || b.size() < 2) return unsupported("1-D operands run on the CPU");
  if (attr_i(n, "transBatchA", 0) != 0 || attr_i(n, "transBatchB", 0) != 0)
    return unsupported("transBatchA / transBatchB run on the CPU");
  const bool ta = attr_i(n, "transA", 0) != 0, tb = attr_i(n, "transB", 0) != 0;
  const int64_t ar = a[a.size() - 2], ac = a.back(), br = b[b.size() - 2], bc = b.back();
  FmmGeometry g;
  g.M = ta ? ac : ar;
  g.K = ta ? ar : ac;
  g.sam = ta ? 1 : ac;
  g.sak = ta ? ac : 1;
  const int64_t kb = tb ? bc : br;
  g.N = tb ? br : bc;
  g.sbk = tb ? 1 : bc;
  g.sbn = tb ? bc : 1;
  if (kb != g.K)
    return invalid_argument("inner dimensions differ: " + shape_to_string(a) + " x " +
                            shape_to_string(b));
  Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  KILN_ASSIGN_OR_RETURN(Shape batch, cpu::broadcast_shapes({ab, bb}));
  g.out = batch;
  g.out.push_back(g.M);
  g.out.push_back(g.N);
  if (!ta && numel_of(bb) == 1 && ab == batch) {
    g.M *= numel_of(ab);  // B is one matrix: A's batch dims are more rows
    return g;
  }
  auto bstrides = [&](const Shape& bd, int64_t mat) {
    std::vector<int64_t> s(batch.size(), 0);
    int64_t stride = mat;
    for (int64_t i = static_cast<int64_t>(bd.size()) - 1,
                 o = static_cast<int64_t>(batch.size()) - 1;
         i >= 0; --i, --o) {
      s[o] = bd[i] == 1 ? 0 : stride;
      stride *= bd[i];
    }
    return s;
  };
  auto as = bstrides(ab, ar * ac), bs = bstrides(bb, br * bc);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i] == 1) continue;
    if (!g.batch.empty() && g.a_bs.back() == as[i] * batch[i] &&
        g.b_bs.back() == bs[i] * batch[i]) {
      g.batch.back() *= batch[i];
      g.a_bs.back() = as[i];
      g.b_bs.back() = bs[i];
      continue;
    }
    g.batch.push_back(batch[i]);
    g.a_bs.push_back(as[i]);
    g.b_bs.push_back(bs[i]);
  }
  if (g.batch.size() > 3) return unsupported("more than 3 independent batch dims");
  return g;
}

Support fmm_supports(const VkContext&, const ir::Node& n, const std::vector<InputInfo>& in) {
  if (!is_f32(in, 0) || !is_f32(in, 1)) return Support::no("only float32 FusedMatMul on Vulkan");
  auto g = fmm_geometry(n, in[0].desc.shape, in[1].desc.shape);
  if (!g) return Support::no(g.status().message());
  const int64_t nb = numel_of(g->batch);
  for (int64_t v : {g->M, g->N, g->K, g->M * g->N * nb})
    if (!fits(v)) return Support::no("a GEMM dimension is too large for the shader");
  if ((g->N + 4 * kLx - 1) / (4 * kLx) > 65535 || (g->M + kTm * kLy - 1) / (kTm * kLy) > 65535 ||
      nb > 65535)
    return Support::no("the GEMM needs more than 65535 workgroups in one dimension");
  return Support::yes();
}

Expected<std::unique_ptr<DeviceKernel>> fmm_prepare(VkContext& ctx, const ir::Node& n,
                                                    const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(FmmGeometry g, fmm_geometry(n, in[0].desc.shape, in[1].desc.shape));
  auto k = std::make_unique<ContribKernel>(ctx, "contrib_FusedMatMul");
  KILN_RETURN_IF_ERROR(k->init_dummy());
  const int64_t nb = numel_of(g.batch);
  if (g.M > 0 && g.N > 0 && nb > 0) {
    Params p(4);
    p.u(g.M).u(g.N).u(g.K).u(static_cast<int64_t>(g.batch.size()));
    p.arr(g.batch, 3).arr(g.a_bs, 3).arr(g.b_bs, 3);
    p.u(g.sam).u(g.sak).u(g.sbk).u(g.sbn).f(attr_f(n, "alpha", 1.0f)).f(0.0f).u(0).u(0).u(0);
    if (p.overflow()) return internal_error("FusedMatMul: too many push constants");
    bool vec4 = g.sak == 1 && g.sbn == 1 && g.K % 4 == 0 && g.N % 4 == 0 && g.sam % 4 == 0 &&
                g.sbk % 4 == 0;
    for (size_t i = 0; i < g.batch.size(); ++i)
      vec4 = vec4 && g.a_bs[i] % 4 == 0 && g.b_bs[i] % 4 == 0;
    CStep s;
    KILN_ASSIGN_OR_RETURN(s.pipe, ctx.pipeline("matmul_f32", 4, kLx, kLy));
    const int64_t vx = (g.N + kVecTn * kVecLx - 1) / (kVecTn * kVecLx),
                  vy = (g.M + kVecTm * kVecLy - 1) / (kVecTm * kVecLy);
    if (vec4 && vx <= 65535 && vy <= 65535) {
      KILN_ASSIGN_OR_RETURN(s.pipe_vec4, ctx.pipeline(kGemmVec4, 4, kVecLx, kVecLy));
      s.vec4_refs = {0, 1};
      s.groups_vec4[0] = static_cast<uint32_t>(vx);
      s.groups_vec4[1] = static_cast<uint32_t>(vy);
      s.groups_vec4[2] = static_cast<uint32_t>(nb);
    }
    s.refs = {ref_in(0), ref_in(1), ref_dummy(), ref_out(0)};
    s.push = p.words();
    s.groups[0] = static_cast<uint32_t>((g.N + 4 * kLx - 1) / (4 * kLx));
    s.groups[1] = static_cast<uint32_t>((g.M + kTm * kLy - 1) / (kTm * kLy));
    s.groups[2] = static_cast<uint32_t>(nb);
    k->add_step(std::move(s));
  }
  k->set_outputs({{DType::kFloat32, g.out}});
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

std::string ms(const char* op) {
  return std::string("com.microsoft.") + op;
}

}  // namespace

void register_vk_contrib(VkOpRegistry& r) {
  for (const char* op : {"Gelu", "BiasGelu", "FastGelu", "QuickGelu", "BiasAdd"})
    r.add(ms(op), {{}, act_supports, act_prepare});
  r.add(ms("SkipLayerNormalization"), {{}, norm_supports, norm_prepare});
  r.add(ms("SkipSimplifiedLayerNormalization"), {{}, norm_supports, norm_prepare});
  // ONNX Runtime registers it in the default domain (the importer accepts that spelling).
  r.add("SimplifiedLayerNormalization", {{}, norm_supports, norm_prepare});
  r.add(ms("EmbedLayerNormalization"), {{}, embed_supports, embed_prepare});
  r.add(ms("FusedMatMul"), {{}, fmm_supports, fmm_prepare});
  register_vk_attention(r);
}

}  // namespace kiln::vulkan
