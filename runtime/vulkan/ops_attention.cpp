// Vulkan Attention and MultiHeadAttention (com.microsoft, float32) with a fused attention shader
// (shaders/attention.comp): softmax(Q K^T * scale + mask + attention_bias) V with online softmax
// over key tiles, so the score matrix is never written. Attention's input projection runs first
// on the MatMul shader (shaders/matmul.comp, bias as its broadcast C) into a scratch
// [B * S, 3 * D] buffer that the core reads in place; MultiHeadAttention reads separate, packed
// (QKV / KV) or BNSH query / key / value in place through strides. With a past, or when the
// present outputs are wanted, shaders/attention_kv.comp first writes present K / V
// ([B, N, past + kv_seq, head]: the past, then the new rows with their bias), which the core then
// reads. Head sizes 16, 32, 64, 80, 96 and 128 (equal for Q/K and V) use register-resident vec4
// variants; any other size takes the generic two-pass path. Masks: every form the CPU kernel takes,
// int32. Refused with a reason (they run on the CPU): the qk output, past_sequence_length /
// cache_indirection, do_rotary, past_present_share_buffer, int64 masks, an empty query or key
// sequence.
#include <cmath>
#include <cstdlib>

#include "runtime/vulkan/ops_contrib_internal.h"

namespace kiln::vulkan::contrib {

namespace {

using ops::attr_f;
using ops::attr_i;

enum MaskMode { kNoMask = 0, kRaw2d = 1, kLengths = 2, kStartEnd = 3, kRaw3d = 4, kRaw4d = 5 };

// Where the core reads one of Q, K, V: a binding plus the offset and strides of element
// (b, n, t, 0).
struct View {
  CRef ref;
  int64_t base = 0, sb = 0, sn = 0, st = 0;
};

struct AttnPlan {
  bool packed = false;  // Attention (input x weights)
  int64_t B = 0, N = 0, S = 0, L = 0, P = 0, H = 0, Hv = 0;
  int64_t T() const { return P + L; }
  int64_t Din = 0, cols = 0;          // Attention's projection
  int bias = -1, mask = -1, ab = -1;  // input indices
  int past = -1, past_k = -1, past_v = -1;
  MaskMode mode = kNoMask;
  int64_t mask_m = 0;
  bool causal = false;
  bool ab_b1 = false, ab_n1 = false;
  float scale = 1, filter = -10000.0f;
  bool bias_q = false, bias_kv = false;  // MHA bias folded in by the core
  bool present = false;                  // attention_kv.comp builds K / V first
  bool vec4_only = false;                // too long for the generic shader
  View q, k, v;                          // the new Q, K, V (before any present copy)
};

bool fits(int64_t v) {
  return v >= 0 && v < INT_MAX;
}

Expected<MaskMode> mask_mode(const InputInfo& m, const AttnPlan& p, bool allow_4d,
                             int64_t* mask_m) {
  if (m.desc.dtype != DType::kInt32)
    return unsupported("only an int32 mask runs on Vulkan (got " +
                       std::string(dtype_name(m.desc.dtype)) + ")");
  const Shape& s = m.desc.shape;
  const int64_t B = p.B, S = p.S, T = p.T();
  if (s.size() == 1 && s[0] == 2 * B && B > 0) return kStartEnd;
  if (s.size() == 1 && s[0] == B) return kLengths;
  if (s.size() == 2 && s[0] == B && s[1] == T) return kRaw2d;
  if (s.size() == 3 && s[0] == B && s[1] == S && s[2] == T) return kRaw3d;
  if (allow_4d && s.size() == 4 && s[0] == B && s[1] == 1 && s[2] == s[3] && s[2] >= T) {
    *mask_m = s[2];
    return kRaw4d;
  }
  return invalid_argument("mask of shape " + shape_to_string(s) +
                          " is not a form the attention kernels take");
}

Status attention_form(const ir::Node& n, const std::vector<InputInfo>& in, AttnPlan& p) {
  p.packed = true;
  if (!has_in(in, 0) || !has_in(in, 1)) return invalid_argument("needs inputs input and weights");
  if (attr_i(n, "do_rotary", 0) != 0) return unsupported("do_rotary runs on the CPU");
  if (attr_i(n, "past_present_share_buffer", 0) != 0)
    return unsupported("past_present_share_buffer runs on the CPU");
  if (has_in(in, 6)) return unsupported("past_sequence_length runs on the CPU");
  const Shape& xs = in[0].desc.shape;
  if (!is_f32(in, 0) || !is_f32(in, 1)) return unsupported("only float32 Attention on Vulkan");
  if (xs.size() != 3) return invalid_argument("input must be 3-D [batch, seq, hidden]");
  const Shape& ws = in[1].desc.shape;
  if (ws.size() != 2 || ws[0] != xs[2])
    return invalid_argument("weights must be 2-D [hidden, 3 * D]");
  p.B = xs[0];
  p.S = p.L = xs[1];
  p.Din = xs[2];
  p.cols = ws[1];
  std::vector<int64_t> sizes;
  const ir::Attribute* a = n.attr("qkv_hidden_sizes");
  if (a && a->type == ir::AttrType::kInts) sizes = a->ints;
  if (sizes.empty()) {
    if (p.cols % 3 != 0) return invalid_argument("weights' columns not divisible by 3");
    sizes = {p.cols / 3, p.cols / 3, p.cols / 3};
  }
  if (sizes.size() != 3 || sizes[0] != sizes[1] || sizes[0] <= 0 || sizes[2] <= 0 ||
      sizes[0] + sizes[1] + sizes[2] != p.cols)
    return invalid_argument("bad qkv_hidden_sizes");
  if (sizes[0] % p.N != 0 || sizes[2] % p.N != 0)
    return invalid_argument("hidden sizes not divisible by num_heads");
  p.H = sizes[0] / p.N;
  p.Hv = sizes[2] / p.N;
  if (has_in(in, 2)) {
    if (!is_f32(in, 2) || in[2].desc.shape != Shape{p.cols})
      return invalid_argument("bias must be float32 1-D of the weights' columns");
    p.bias = 2;
  }
  if (has_in(in, 4)) {
    const Shape& ps = in[4].desc.shape;
    if (!is_f32(in, 4)) return unsupported("only a float32 past on Vulkan");
    if (p.H != p.Hv) return invalid_argument("past needs equal Q/K and V head sizes");
    if (ps.size() != 5 || ps[0] != 2 || ps[1] != p.B || ps[2] != p.N || ps[4] != p.H)
      return invalid_argument("past must be [2, batch, heads, past_seq, head_size]");
    p.past = 4;
    p.P = ps[3];
  }
  if (wants_output(n, 1) && p.H != p.Hv)
    return invalid_argument("present needs equal Q/K and V head sizes");
  p.present = p.past >= 0 || wants_output(n, 1);
  if (has_in(in, 3)) p.mask = 3;
  if (has_in(in, 5)) p.ab = 5;
  // The projection [B * S, cols] is scratch 0.
  const int64_t D = p.N * p.H;
  p.q = {ref_scratch(0, false), 0, p.S * p.cols, p.H, p.cols};
  p.k = {ref_scratch(0, false), D, p.S * p.cols, p.H, p.cols};
  p.v = {ref_scratch(0, false), 2 * D, p.S * p.cols, p.Hv, p.cols};
  return Status::ok();
}

Status mha_form(const ir::Node& n, const std::vector<InputInfo>& in, AttnPlan& p) {
  if (!has_in(in, 0)) return invalid_argument("missing input query");
  if (has_in(in, 8) || has_in(in, 9))
    return unsupported("past_sequence_length / cache_indirection run on the CPU");
  if (wants_output(n, 3)) return unsupported("the qk output runs on the CPU");
  for (size_t i = 0; i < 8; ++i)
    if (has_in(in, i) && i != 4 && !is_f32(in, i))
      return unsupported("only float32 MultiHeadAttention on Vulkan");
  if (has_in(in, 6) != has_in(in, 7))
    return invalid_argument("past_key and past_value must be given together");
  const Shape& qs = in[0].desc.shape;
  const bool key = has_in(in, 1), value = has_in(in, 2);
  bool bnsh = false;
  p.B = qs.empty() ? 0 : qs[0];
  if (qs.size() == 5) {
    if (key || value) return invalid_argument("packed QKV query takes no key or value");
    if (qs[2] != p.N || qs[3] != 3) return invalid_argument("packed QKV query shape");
    p.S = p.L = qs[1];
    p.H = p.Hv = qs[4];
    const int64_t rs = p.N * 3 * p.H, bs = p.S * rs;
    p.q = {ref_in(0), 0, bs, 3 * p.H, rs};
    p.k = {ref_in(0), p.H, bs, 3 * p.H, rs};
    p.v = {ref_in(0), 2 * p.H, bs, 3 * p.H, rs};
  } else if (qs.size() == 3) {
    if (qs[2] <= 0 || qs[2] % p.N != 0)
      return invalid_argument("query hidden size must be divisible by num_heads");
    p.S = qs[1];
    p.H = qs[2] / p.N;
    const int64_t D = qs[2];
    p.q = {ref_in(0), 0, p.S * D, p.H, D};
    if (!key) return invalid_argument("key is required unless the query is packed QKV");
    const Shape& ks = in[1].desc.shape;
    if (ks.size() == 5) {
      if (value) return invalid_argument("packed KV key takes no value");
      if (ks[0] != p.B || ks[2] != p.N || ks[3] != 2 || ks[4] != p.H)
        return invalid_argument("packed KV key shape");
      p.L = ks[1];
      p.Hv = p.H;
      const int64_t rs = p.N * 2 * p.H, bs = p.L * rs;
      p.k = {ref_in(1), 0, bs, 2 * p.H, rs};
      p.v = {ref_in(1), p.H, bs, 2 * p.H, rs};
    } else if (ks.size() == 3) {
      if (!value || in[2].desc.shape.size() != 3)
        return invalid_argument("a 3-D key needs a 3-D value");
      const Shape& vs = in[2].desc.shape;
      if (ks[0] != p.B || ks[2] != D) return invalid_argument("key shape does not fit the query");
      if (vs[0] != p.B || vs[1] != ks[1]) return invalid_argument("value shape does not fit key");
      if (vs[2] <= 0 || vs[2] % p.N != 0)
        return invalid_argument("value hidden size must be divisible by num_heads");
      p.L = ks[1];
      p.Hv = vs[2] / p.N;
      p.k = {ref_in(1), 0, p.L * D, p.H, D};
      p.v = {ref_in(2), 0, p.L * vs[2], p.Hv, vs[2]};
    } else if (ks.size() == 4) {
      const Shape* vs = value ? &in[2].desc.shape : nullptr;
      if (!vs || vs->size() != 4 || ks[0] != p.B || ks[1] != p.N || ks[3] != p.H ||
          (*vs)[0] != p.B || (*vs)[1] != p.N || (*vs)[2] != ks[2])
        return invalid_argument("BNSH key / value shapes do not fit the query");
      if (has_in(in, 6))
        return invalid_argument("past_key / past_value cannot be used with a 4-D key");
      bnsh = true;
      p.L = ks[2];
      p.Hv = (*vs)[3];
      p.k = {ref_in(1), 0, p.N * p.L * p.H, p.L * p.H, p.H};
      p.v = {ref_in(2), 0, p.N * p.L * p.Hv, p.L * p.Hv, p.Hv};
    } else {
      return invalid_argument("key must be 3-D, 4-D or 5-D (packed KV)");
    }
  } else {
    return invalid_argument("query must be 3-D or 5-D (packed QKV)");
  }
  if (p.H <= 0 || p.Hv <= 0) return invalid_argument("head sizes must be positive");
  const int64_t D = p.N * p.H, Dv = p.N * p.Hv;
  if (has_in(in, 3)) {
    if (in[3].desc.shape != Shape{2 * D + Dv})
      return invalid_argument("bias must be 1-D of size 2 * D + Dv");
    p.bias = 3;
    p.bias_q = true;
    p.bias_kv = !bnsh;
  }
  if (has_in(in, 6)) {
    const Shape& pk = in[6].desc.shape;
    const Shape& pv = in[7].desc.shape;
    if (pk.size() != 4 || pk[0] != p.B || pk[1] != p.N || pk[3] != p.H || pv.size() != 4 ||
        pv[0] != p.B || pv[1] != p.N || pv[2] != pk[2] || pv[3] != p.Hv)
      return invalid_argument("past_key / past_value must be [batch, heads, past_seq, head_size]");
    p.past_k = 6;
    p.past_v = 7;
    p.P = pk[2];
  }
  p.present = p.past_k >= 0 || wants_output(n, 1) || wants_output(n, 2);
  if (has_in(in, 4)) p.mask = 4;
  if (has_in(in, 5)) p.ab = 5;
  return Status::ok();
}

constexpr int64_t kMaxLoopIterations = 60000;

// Loop iterations of one generic-shader invocation (both passes, every inner loop).
int64_t generic_iterations(const AttnPlan& p) {
  const int64_t qk = p.H / 4 + 4, pv = p.Hv / 4 + 4;
  return p.T() * (2 * qk + pv + 2) + 3 * p.Hv + p.H + 16;
}

// Whether a register-resident vec4 variant exists for the head sizes.
bool vec4_head(const AttnPlan& p) {
  return p.H == p.Hv &&
         (p.H == 16 || p.H == 32 || p.H == 64 || p.H == 80 || p.H == 96 || p.H == 128);
}

Expected<AttnPlan> attn_plan(const ir::Node& n, const std::vector<InputInfo>& in) {
  AttnPlan p;
  p.N = attr_i(n, "num_heads", 0);
  if (p.N <= 0) return invalid_argument("num_heads must be positive");
  if (n.op_type() == "Attention") {
    KILN_RETURN_IF_ERROR(attention_form(n, in, p));
  } else {
    KILN_RETURN_IF_ERROR(mha_form(n, in, p));
  }
  if (p.T() <= 0) return unsupported("an empty key sequence runs on the CPU");
  if (p.S <= 0) return unsupported("an empty query sequence runs on the CPU");
  if (p.mask >= 0) {
    KILN_ASSIGN_OR_RETURN(p.mode, mask_mode(in[p.mask], p, p.packed, &p.mask_m));
  }
  if (p.ab >= 0) {
    const Shape& a = in[p.ab].desc.shape;
    if (!is_f32(in, p.ab) || a.size() != 4 || (a[0] != p.B && a[0] != 1) ||
        (a[1] != p.N && a[1] != 1) || a[2] != p.S || a[3] != p.T())
      return invalid_argument("attention_bias must be float32 [B or 1, N or 1, S, T]");
    p.ab_b1 = a[0] == 1;
    p.ab_n1 = a[1] == 1;
  }
  p.causal = attr_i(n, "unidirectional", 0) != 0 && p.S > 1;
  p.filter = attr_f(n, "mask_filter_value", -10000.0f);
  const float s = attr_f(n, "scale", 0.0f);
  p.scale = s == 0.0f ? 1.0f / std::sqrt(static_cast<float>(p.H)) : s;
  // Every index the shaders form must fit in 32 bits.
  for (const InputInfo& i : in)
    if (i.present && !fits(i.desc.numel())) return unsupported("a tensor is too large");
  for (int64_t v :
       {p.B * p.S * p.cols, p.B * p.N * p.T() * std::max(p.H, p.Hv) * 2, p.B * p.S * p.N * p.Hv})
    if (!fits(v)) return unsupported("a tensor is too large for the shader");
  if (p.B * p.N > 65535) return unsupported("batch * num_heads above 65535");
  // llvmpipe ends a shader's loops after 65535 iterations in total per invocation: the generic
  // shader (inner loops 4 elements per iteration) must stay below it; the vec4 head-size
  // variants loop once per key.
  p.vec4_only = generic_iterations(p) > kMaxLoopIterations;
  if (p.T() + 64 > kMaxLoopIterations)
    return unsupported("a key sequence of " + std::to_string(p.T()) +
                       " is too long for the attention shaders");
  if (p.vec4_only && !vec4_head(p))
    return unsupported("a key sequence of " + std::to_string(p.T()) + " with head sizes " +
                       std::to_string(p.H) + " / " + std::to_string(p.Hv) +
                       " is too long for the generic attention shader");
  return p;
}

Support attn_supports(const VkContext&, const ir::Node& n, const std::vector<InputInfo>& in) {
  auto p = attn_plan(n, in);
  if (!p) return Support::no(p.status().message());
  return Support::yes();
}

// The vec4 GEMM of ops_matmul.cpp (its measured default) and the scalar one.
constexpr const char* kGemmVec4 = "matmul_f32_vec4_tn8";
constexpr uint32_t kVecTm = 4, kVecTn = 8, kVecLx = 8, kVecLy = 8;
constexpr uint32_t kLx = 8, kLy = 8, kTm = 4;

// y [M, N] = x [M, K] w [K, N] + bias (matmul.comp's push layout).
Expected<CStep> projection_step(VkContext& ctx, int64_t M, int64_t N, int64_t K, CRef x, CRef w,
                                CRef bias, bool has_bias, CRef y) {
  Params p(4);
  p.u(M).u(N).u(K).u(0).arr({}, 9);
  p.u(K).u(1).u(N).u(1).f(1.0f).f(1.0f).u(0).u(1).u(has_bias ? 1 : 0);
  CStep s;
  KILN_ASSIGN_OR_RETURN(s.pipe, ctx.pipeline("matmul_f32", 4, kLx, kLy));
  const int64_t gx = (N + 4 * kLx - 1) / (4 * kLx), gy = (M + kTm * kLy - 1) / (kTm * kLy);
  if (gx > 65535 || gy > 65535) return unsupported("the projection needs too many workgroups");
  const int64_t vx = (N + kVecTn * kVecLx - 1) / (kVecTn * kVecLx),
                vy = (M + kVecTm * kVecLy - 1) / (kVecTm * kVecLy);
  if (K % 4 == 0 && N % 4 == 0) {
    KILN_ASSIGN_OR_RETURN(s.pipe_vec4, ctx.pipeline(kGemmVec4, 4, kVecLx, kVecLy));
    s.vec4_refs = {0, 1};
    s.groups_vec4[0] = static_cast<uint32_t>(vx);
    s.groups_vec4[1] = static_cast<uint32_t>(vy);
  }
  s.refs = {x, w, bias, y};
  s.push = p.words();
  s.groups[0] = static_cast<uint32_t>(gx);
  s.groups[1] = static_cast<uint32_t>(gy);
  return s;
}

// attention_kv.comp: dst [B, N, T, h] at dst_base from past (at past_base) and the view.
Expected<CStep> kv_step(VkContext& ctx, const AttnPlan& p, CRef past, int64_t past_base,
                        const View& src, int64_t h, bool bias, int64_t bias_base, CRef dst,
                        int64_t dst_base) {
  Params q(4);
  q.u(p.B).u(p.N).u(p.T()).u(p.P).u(h).u(past_base).u(src.base).u(src.sb).u(src.sn).u(src.st);
  q.u(bias_base).u(dst_base).u((p.P > 0 ? 1 : 0) | (bias ? 2 : 0));
  return grid_step(ctx, "attention_kv_f32",
                   {past, src.ref, bias ? ref_in(p.bias) : ref_dummy(), dst}, q,
                   p.B * p.N * p.T() * h);
}

Expected<std::unique_ptr<DeviceKernel>> attn_prepare(VkContext& ctx, const ir::Node& n,
                                                     const std::vector<InputInfo>& in) {
  KILN_ASSIGN_OR_RETURN(AttnPlan p, attn_plan(n, in));
  auto k = std::make_unique<ContribKernel>(ctx, "attention_" + n.op_type());
  KILN_RETURN_IF_ERROR(k->init_dummy());
  const int64_t T = p.T(), D = p.N * p.H;
  std::vector<TensorDesc> outs = {{DType::kFloat32, {p.B, p.S, p.N * p.Hv}}};
  if (p.packed) {
    outs.push_back({DType::kFloat32, {2, p.B, p.N, T, p.H}});
  } else {
    outs.push_back({DType::kFloat32, {p.B, p.N, T, p.H}});
    outs.push_back({DType::kFloat32, {p.B, p.N, T, p.Hv}});
  }
  const bool work = p.B > 0 && p.S > 0;
  if (p.packed) {
    KILN_ASSIGN_OR_RETURN(int proj, k->add_scratch(p.B * p.S * p.cols));
    if (work) {
      KILN_ASSIGN_OR_RETURN(CStep s,
                            projection_step(ctx, p.B * p.S, p.cols, p.Din, ref_in(0), ref_in(1),
                                            ref_in(p.bias), p.bias >= 0, ref_scratch(proj, true)));
      k->add_step(std::move(s));
    }
  }
  View kv_k = p.k, kv_v = p.v;
  bool bias_kv = p.bias_kv;
  if (p.present && work) {
    // Present K / V: the node's outputs when wanted, else scratch.
    CRef dk, dv;
    int64_t dk_base = 0, dv_base = 0;
    if (p.packed) {
      if (wants_output(n, 1)) {
        dk = dv = ref_out(1);
      } else {
        KILN_ASSIGN_OR_RETURN(int sc, k->add_scratch(2 * p.B * p.N * T * p.H));
        dk = dv = ref_scratch(sc, true);
      }
      dv_base = p.B * p.N * T * p.H;
    } else {
      if (wants_output(n, 1)) {
        dk = ref_out(1);
      } else {
        KILN_ASSIGN_OR_RETURN(int sc, k->add_scratch(p.B * p.N * T * p.H));
        dk = ref_scratch(sc, true);
      }
      if (wants_output(n, 2)) {
        dv = ref_out(2);
      } else {
        KILN_ASSIGN_OR_RETURN(int sc, k->add_scratch(p.B * p.N * T * p.Hv));
        dv = ref_scratch(sc, true);
      }
    }
    const CRef past_k = p.packed ? ref_in(p.past) : ref_in(p.past_k);
    const CRef past_v = p.packed ? ref_in(p.past) : ref_in(p.past_v);
    const int64_t pv_base = p.packed ? p.B * p.N * p.P * p.H : 0;
    KILN_ASSIGN_OR_RETURN(CStep sk, kv_step(ctx, p, p.P > 0 ? past_k : ref_dummy(), 0, p.k, p.H,
                                            p.bias_kv, D, dk, dk_base));
    KILN_ASSIGN_OR_RETURN(CStep sv, kv_step(ctx, p, p.P > 0 ? past_v : ref_dummy(), pv_base, p.v,
                                            p.Hv, p.bias_kv, 2 * D, dv, dv_base));
    k->add_step(std::move(sk));
    k->add_step(std::move(sv));
    auto as_read = [](CRef r) {
      r.write = false;
      return r;
    };
    kv_k = {as_read(dk), dk_base, p.N * T * p.H, T * p.H, p.H};
    kv_v = {as_read(dv), dv_base, p.N * T * p.Hv, T * p.Hv, p.Hv};
    bias_kv = false;
  }
  if (work) {
    // The generic shader, and for head sizes 16, 32, 64, 80, 96 and 128 (equal for Q/K and V) a
    // register-resident vec4 variant: every base and stride is then a multiple of 4, and
    // enqueue picks it when the bound Q, K and V offsets are 4-aligned too. 3.5x faster than
    // scalar loads on lavapipe at 1x128x12x64. KILN_VK_ATTENTION_GENERIC=1 keeps the generic
    // shader (tests).
    std::string vec4_variant;
    if (vec4_head(p) && (p.vec4_only || !std::getenv("KILN_VK_ATTENTION_GENERIC")))
      vec4_variant = "attention_f32_h" + std::to_string(p.H) + "_vec4";
    const uint32_t local = 8;
    const int64_t gx = (p.S + local - 1) / local;
    if (gx > 65535) return unsupported("sequence too long for one dispatch");
    int flags = p.mode | (p.causal ? 16 : 0) | (p.bias_q ? 32 : 0) | (bias_kv ? 64 : 0) |
                (p.ab >= 0 ? 128 : 0) | (p.ab_b1 ? 256 : 0) | (p.ab_n1 ? 512 : 0);
    Params q(7);
    q.u(p.B).u(p.N).u(p.S).u(T).u(p.H).u(p.Hv).u(p.P).u(flags);
    for (const View* w : {&p.q, &kv_k, &kv_v}) q.u(w->base).u(w->sb).u(w->sn).u(w->st);
    q.u(p.mask_m).f(p.scale).f(p.filter);
    if (q.overflow()) return internal_error("attention: too many push constants");
    CStep s;
    KILN_ASSIGN_OR_RETURN(s.pipe, ctx.pipeline("attention_f32", 7, local, 1));
    if (!vec4_variant.empty()) {
      KILN_ASSIGN_OR_RETURN(s.pipe_vec4, ctx.pipeline(vec4_variant, 7, local, 1));
      s.vec4_refs = {0, 1, 2};
      s.groups_vec4[0] = static_cast<uint32_t>(gx);
      s.groups_vec4[1] = static_cast<uint32_t>(p.B * p.N);
      s.require_vec4 = p.vec4_only;
    }
    s.refs = {p.q.ref,        kv_k.ref,     kv_v.ref,  ref_in(p.bias),
              ref_in(p.mask), ref_in(p.ab), ref_out(0)};
    s.push = q.words();
    s.groups[0] = static_cast<uint32_t>(gx);
    s.groups[1] = static_cast<uint32_t>(p.B * p.N);
    k->add_step(std::move(s));
  }
  k->set_outputs(output_descs(n, outs));
  return std::unique_ptr<DeviceKernel>(std::move(k));
}

}  // namespace

void register_vk_attention(VkOpRegistry& r) {
  r.add("com.microsoft.Attention", {{}, attn_supports, attn_prepare});
  r.add("com.microsoft.MultiHeadAttention", {{}, attn_supports, attn_prepare});
}

}  // namespace kiln::vulkan::contrib
