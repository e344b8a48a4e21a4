// More OpCases for the com.microsoft contrib ops (the device kernels in
// runtime/vulkan/ops_contrib.cpp / ops_attention.cpp): EmbedLayerNormalization, FusedMatMul, and
// Attention / MultiHeadAttention on odd sequence lengths (1, 7, 127, 384), every head size with a
// dedicated Vulkan variant (32, 64, 80, 96, 128) and odd ones (generic path), every mask form,
// causal, attention_bias broadcasts, past / present key-values, packed QKV / KV and BNSH inputs.
#include <algorithm>
#include <tuple>

#include "tests/opcases/op_case.h"

namespace kiln::testing {

namespace {

const char* kMs = "com.microsoft";

OpCase ms_case(std::string name, std::string op, std::vector<InputSpec> in) {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.domain = kMs;
  c.opset = 1;
  c.inputs = std::move(in);
  return c;
}

InputSpec i32_values(Shape s, std::vector<double> values) {
  InputSpec i;
  i.dtype = DType::kInt32;
  i.shape = std::move(s);
  i.values = std::move(values);
  return i;
}

InputSpec i32_range(Shape s, int64_t lo, int64_t hi) {
  InputSpec i;
  i.dtype = DType::kInt32;
  i.shape = std::move(s);
  i.lo = static_cast<double>(lo);
  i.hi = static_cast<double>(hi);
  return i;
}

// --- EmbedLayerNormalization ---------------------------------------------------------------------

void add_embed(std::vector<OpCase>& v) {
  // Tolerance: float row statistics vs the CPU's double (values of a few units).
  for (auto [b, s, h] :
       {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {2, 7, 13}, {3, 13, 96}, {1, 127, 64}}) {
    std::string tag = std::to_string(b) + "x" + std::to_string(s) + "x" + std::to_string(h);
    std::vector<double> mask;
    for (int64_t i = 0; i < b * s; ++i) mask.push_back((i % s) < s - (i / s) * 2 ? 1 : 0);
    OpCase full = ms_case("ms.EmbedLayerNormalization/full_" + tag, "EmbedLayerNormalization",
                          {i32_range({b, s}, 0, 50), i32_range({b, s}, 0, 2), const_f32({50, h}),
                           const_f32({s + 3, h}), const_f32({2, h}), const_f32({h}, 0.5, 1.5),
                           const_f32({h}), i32_values({b, s}, mask)});
    full.num_outputs = 3;
    full.atol = full.rtol = 1e-4;
    v.push_back(full);
    OpCase bare = ms_case("ms.EmbedLayerNormalization/no_segment_" + tag, "EmbedLayerNormalization",
                          {i32_range({b, s}, 0, 30), omitted(), const_f32({30, h}),
                           const_f32({s, h}), omitted(), const_f32({h}, 0.5, 1.5), const_f32({h})});
    bare.attrs["epsilon"] = attr_f(1e-5f);
    bare.atol = bare.rtol = 1e-4;
    v.push_back(bare);
  }
  // position_ids broadcast over the batch, mask_index without a mask (zeros).
  OpCase pos = ms_case(
      "ms.EmbedLayerNormalization/position_ids", "EmbedLayerNormalization",
      {i32_range({2, 5}, 0, 20), omitted(), const_f32({20, 24}), const_f32({9, 24}), omitted(),
       const_f32({24}, 0.5, 1.5), const_f32({24}), omitted(), i32_values({1, 5}, {8, 0, 3, 3, 1})});
  pos.num_outputs = 2;
  pos.atol = pos.rtol = 1e-4;
  v.push_back(pos);
}

// --- FusedMatMul ---------------------------------------------------------------------------------

void add_fused_matmul(std::vector<OpCase>& v) {
  struct Fmm {
    const char* tag;
    Shape a, b;
    int ta, tb;
    float alpha;
  };
  for (const Fmm& f : std::vector<Fmm>{
           {"1x1", {1, 1}, {1, 1}, 0, 0, 1.0f},
           {"13x7_7x127", {13, 7}, {7, 127}, 0, 0, 0.5f},
           {"vec4_33x64_64x40", {33, 64}, {64, 40}, 0, 0, 2.0f},
           {"tA", {7, 13}, {7, 9}, 1, 0, 1.0f},
           {"tB", {2, 13, 7}, {2, 9, 7}, 0, 1, 0.125f},
           {"tAtB_bcast", {3, 1, 7, 13}, {4, 9, 7}, 1, 1, -1.5f},
           {"batch_fold", {2, 3, 5, 16}, {16, 12}, 0, 0, 0.25f},
           {"bcast_b", {1, 5, 8}, {3, 8, 4}, 0, 0, 1.0f},
       }) {
    OpCase c =
        ms_case(std::string("ms.FusedMatMul/") + f.tag, "FusedMatMul", {in_f32(f.a), in_f32(f.b)});
    c.attrs["transA"] = attr_i(f.ta);
    c.attrs["transB"] = attr_i(f.tb);
    c.attrs["alpha"] = attr_f(f.alpha);
    c.atol = c.rtol = 1e-5;
    v.push_back(c);
  }
}

// --- attention -----------------------------------------------------------------------------------

// Tolerance 1e-4 absolute: online softmax in float (rescaled per key tile) against the CPU's one
// global max and a double sum; outputs are convex combinations of values in [-1, 1].
OpCase attn(std::string name, std::string op, std::vector<InputSpec> in, int64_t heads) {
  OpCase c = ms_case(std::move(name), std::move(op), std::move(in));
  c.attrs["num_heads"] = attr_i(heads);
  c.atol = 1e-4;
  c.rtol = 0;
  return c;
}

std::vector<double> pad_mask(int64_t b, int64_t t) {
  std::vector<double> v;
  for (int64_t i = 0; i < b; ++i)
    for (int64_t k = 0; k < t; ++k) v.push_back(k < std::max<int64_t>(1, t - 2 * i - 1) ? 1 : 0);
  return v;
}

void add_attention_sizes(std::vector<OpCase>& v) {
  // Attention over every dedicated head size and odd sequence lengths, with a key-length mask.
  for (int64_t hs : {16, 32, 64, 80, 96, 128, 8, 20}) {
    for (int64_t s : {1, 7, 127, 384}) {
      if (s == 384 && hs != 64 && hs != 80) continue;  // keep the file fast
      const int64_t b = s == 384 ? 1 : 2, n = s == 384 ? 2 : 3, d = n * hs, din = 16;
      std::string tag = "h" + std::to_string(hs) + "_s" + std::to_string(s);
      std::vector<double> lens;
      for (int64_t i = 0; i < b; ++i)
        lens.push_back(static_cast<double>(std::max<int64_t>(1, s - 5 * i)));
      v.push_back(attn("ms.Attention/x_" + tag, "Attention",
                       {in_f32({b, s, din}), const_f32({din, 3 * d}, -0.5, 0.5), const_f32({3 * d}),
                        i32_values({b}, lens)},
                       n));
      if (s == 1) continue;
      OpCase c = attn("ms.MultiHeadAttention/x_causal_mask_" + tag, "MultiHeadAttention",
                      {in_f32({b, s, d}), in_f32({b, s, d}), in_f32({b, s, d}), const_f32({3 * d}),
                       i32_values({b, s}, pad_mask(b, s))},
                      n);
      c.attrs["unidirectional"] = attr_i(1);
      v.push_back(c);
    }
  }
}

void add_attention_forms(std::vector<OpCase>& v) {
  // Attention: the [B, 1, M, M] mask, raw 3-D, start/end, attention_bias broadcasts.
  {
    const int64_t b = 2, s = 7, n = 2, hs = 32, d = n * hs, m = 9;
    std::vector<double> mask4;
    for (int64_t i = 0; i < b * m * m; ++i) mask4.push_back((i * 5 + i / m) % 7 != 0 ? 1 : 0);
    v.push_back(attn("ms.Attention/x_mask4d", "Attention",
                     {in_f32({b, s, 16}), const_f32({16, 3 * d}, -0.5, 0.5), const_f32({3 * d}),
                      i32_values({b, 1, m, m}, mask4)},
                     n));
    std::vector<double> mask3;
    for (int64_t i = 0; i < b * s * s; ++i) mask3.push_back((i * 3 + 1) % 4 != 0 ? 1 : 0);
    v.push_back(attn("ms.Attention/x_mask3d_ab", "Attention",
                     {in_f32({b, s, 16}), const_f32({16, 3 * d}, -0.5, 0.5), const_f32({3 * d}),
                      i32_values({b, s, s}, mask3), omitted(), in_f32({1, 1, s, s}, -2, 2)},
                     n));
    OpCase se = attn("ms.Attention/x_start_end_causal", "Attention",
                     {in_f32({b, s, 16}), const_f32({16, 3 * d}, -0.5, 0.5), omitted(),
                      i32_values({2 * b}, {7, 5, 0, 2}), omitted(), in_f32({1, n, s, s}, -2, 2)},
                     n);
    se.attrs["unidirectional"] = attr_i(1);
    se.attrs["mask_filter_value"] = attr_f(-1000.0f);
    v.push_back(se);
  }
  // Attention with past and present (decoder step and prompt), causal.
  for (auto [s, p] : {std::pair<int64_t, int64_t>{1, 6}, {5, 4}, {3, 0}}) {
    const int64_t b = 2, n = 2, hs = 32, d = n * hs;
    std::string tag = "s" + std::to_string(s) + "_p" + std::to_string(p);
    std::vector<InputSpec> in = {in_f32({b, s, 16}), const_f32({16, 3 * d}, -0.5, 0.5),
                                 const_f32({3 * d}), omitted(), in_f32({2, b, n, p, hs})};
    if (p == 0) in[4] = omitted();
    OpCase c = attn("ms.Attention/x_past_present_" + tag, "Attention", in, n);
    c.attrs["unidirectional"] = attr_i(1);
    c.num_outputs = 2;
    v.push_back(c);
  }
  // MultiHeadAttention: packed QKV, packed KV (with bias), BNSH key / value, past / present.
  {
    const int64_t b = 2, s = 13, n = 2, hs = 64;
    v.push_back(attn("ms.MultiHeadAttention/x_packed_qkv", "MultiHeadAttention",
                     {in_f32({b, s, n, 3, hs})}, n));
    v.push_back(attn("ms.MultiHeadAttention/x_packed_qkv_bias_h20", "MultiHeadAttention",
                     {in_f32({b, s, n, 3, 20}), omitted(), omitted(), const_f32({3 * n * 20})}, n));
    v.push_back(attn("ms.MultiHeadAttention/x_packed_kv_bias", "MultiHeadAttention",
                     {in_f32({b, s, n * hs}), in_f32({b, 9, n, 2, hs}), omitted(),
                      const_f32({3 * n * hs}), i32_values({b}, {9, 4})},
                     n));
    v.push_back(attn("ms.MultiHeadAttention/x_bnsh_bias", "MultiHeadAttention",
                     {in_f32({b, s, n * hs}), in_f32({b, n, 11, hs}), in_f32({b, n, 11, 24}),
                      const_f32({2 * n * hs + n * 24})},
                     n));
    OpCase pk = attn("ms.MultiHeadAttention/x_past_present", "MultiHeadAttention",
                     {in_f32({b, 3, n * hs}), in_f32({b, 3, n * hs}), in_f32({b, 3, n * 32}),
                      const_f32({2 * n * hs + n * 32}), i32_values({b, 8}, pad_mask(b, 8)),
                      omitted(), in_f32({b, n, 5, hs}), in_f32({b, n, 5, 32})},
                     n);
    pk.attrs["unidirectional"] = attr_i(1);
    pk.num_outputs = 3;
    v.push_back(pk);
    OpCase pr = attn("ms.MultiHeadAttention/x_present_only_h80", "MultiHeadAttention",
                     {in_f32({1, 7, 160}), in_f32({1, 7, 160}), in_f32({1, 7, 160})}, 2);
    pr.num_outputs = 3;
    v.push_back(pr);
    OpCase ab = attn("ms.MultiHeadAttention/x_ab_b1_h96", "MultiHeadAttention",
                     {in_f32({2, 7, 192}), in_f32({2, 9, 192}), in_f32({2, 9, 192}), omitted(),
                      omitted(), in_f32({1, 2, 7, 9}, -3, 3)},
                     2);
    ab.attrs["scale"] = attr_f(0.2f);
    v.push_back(ab);
  }
}

void add_attention_cache(std::vector<OpCase>& v) {
  // MultiHeadAttention decoder steps: past_key / past_value [B, N, P, H] of length 0, 1, 7 and
  // 1 or 7 new keys, with present_key / present_value = concat(past, new + bias), a key padding
  // mask over the P + L keys, causal for the 7-row prompts (rows see keys up to P + s).
  for (int64_t hs : {64, 32}) {
    for (int64_t p : {0, 1, 7}) {
      for (int64_t s : {1, 7}) {
        const int64_t b = 2, n = 3, d = n * hs, t = p + s;
        std::string tag =
            "h" + std::to_string(hs) + "_p" + std::to_string(p) + "_s" + std::to_string(s);
        OpCase c = attn("ms.MultiHeadAttention/x_cache_" + tag, "MultiHeadAttention",
                        {in_f32({b, s, d}), in_f32({b, s, d}), in_f32({b, s, d}),
                         const_f32({3 * d}), i32_values({b, t}, pad_mask(b, t)), omitted(),
                         in_f32({b, n, p, hs}), in_f32({b, n, p, hs})},
                        n);
        c.attrs["unidirectional"] = attr_i(1);
        c.num_outputs = 3;
        v.push_back(c);
      }
    }
  }
  // No mask, no bias, not causal, key lengths: the plain GPT-2 step form, past 7, one new row.
  {
    OpCase c =
        attn("ms.MultiHeadAttention/x_cache_lengths_h64_p7_s1", "MultiHeadAttention",
             {in_f32({3, 1, 128}), in_f32({3, 1, 128}), in_f32({3, 1, 128}), omitted(),
              i32_values({3}, {8, 5, 1}), omitted(), in_f32({3, 2, 7, 64}), in_f32({3, 2, 7, 64})},
             2);
    c.num_outputs = 3;
    v.push_back(c);
  }
  // Attention with a packed past and the [B, 1, M, M] mask (M 11 > P + S = 9): rows P + s.
  {
    const int64_t b = 2, s = 3, p = 6, n = 2, hs = 32, d = n * hs, m = 11;
    std::vector<double> mask4;
    for (int64_t i = 0; i < b * m * m; ++i) mask4.push_back((i * 7 + i / m) % 5 != 0 ? 1 : 0);
    OpCase c = attn("ms.Attention/x_cache_mask4d_p6_s3", "Attention",
                    {in_f32({b, s, 16}), const_f32({16, 3 * d}, -0.5, 0.5), const_f32({3 * d}),
                     i32_values({b, 1, m, m}, mask4), in_f32({2, b, n, p, hs})},
                    n);
    c.num_outputs = 2;
    v.push_back(c);
  }
  // Attention with a packed past [2, B, N, P, H] (P 1 and 7) and the present output, head size
  // 64, 1 or 7 new rows, a key padding mask over the P + S keys, causal.
  for (int64_t p : {1, 7}) {
    for (int64_t s : {1, 7}) {
      const int64_t b = 2, n = 2, hs = 64, d = n * hs, t = p + s;
      std::string tag = "h64_p" + std::to_string(p) + "_s" + std::to_string(s);
      OpCase c = attn("ms.Attention/x_cache_" + tag, "Attention",
                      {in_f32({b, s, 16}), const_f32({16, 3 * d}, -0.5, 0.5), const_f32({3 * d}),
                       i32_values({b, t}, pad_mask(b, t)), in_f32({2, b, n, p, hs})},
                      n);
      c.attrs["unidirectional"] = attr_i(1);
      c.num_outputs = 2;
      v.push_back(c);
    }
  }
  // Packed KV [B, L, N, 2, H] and packed QKV [B, S, N, 3, H] with past / present and bias.
  {
    OpCase kv = attn("ms.MultiHeadAttention/x_cache_packed_kv_h32_p7_s1", "MultiHeadAttention",
                     {in_f32({2, 1, 96}), in_f32({2, 1, 3, 2, 32}), omitted(), const_f32({288}),
                      i32_values({2, 8}, pad_mask(2, 8)), omitted(), in_f32({2, 3, 7, 32}),
                      in_f32({2, 3, 7, 32})},
                     3);
    kv.num_outputs = 3;
    v.push_back(kv);
    OpCase qkv = attn("ms.MultiHeadAttention/x_cache_packed_qkv_h64_p1_s7", "MultiHeadAttention",
                      {in_f32({2, 7, 2, 3, 64}), omitted(), omitted(), const_f32({384}), omitted(),
                       omitted(), in_f32({2, 2, 1, 64}), in_f32({2, 2, 1, 64})},
                      2);
    qkv.attrs["unidirectional"] = attr_i(1);
    qkv.num_outputs = 3;
    v.push_back(qkv);
  }
  // Cross-attention on cached BNSH key / value [B, N, L, H] (T5 decoder), with a key padding
  // mask, Q bias, and an attention_bias over the L keys.
  for (auto [hs, s, l] :
       {std::tuple<int64_t, int64_t, int64_t>{64, 1, 13}, {32, 7, 5}, {32, 1, 1}}) {
    const int64_t b = 2, n = 3, d = n * hs;
    std::string tag =
        "h" + std::to_string(hs) + "_s" + std::to_string(s) + "_l" + std::to_string(l);
    v.push_back(attn("ms.MultiHeadAttention/x_bnsh_cross_" + tag, "MultiHeadAttention",
                     {in_f32({b, s, d}), in_f32({b, n, l, hs}), in_f32({b, n, l, hs}),
                      const_f32({3 * d}), i32_values({b, l}, pad_mask(b, l)), omitted()},
                     n));
    v.push_back(attn("ms.MultiHeadAttention/x_bnsh_ab_" + tag, "MultiHeadAttention",
                     {in_f32({b, s, d}), in_f32({b, n, l, hs}), in_f32({b, n, l, hs}), omitted(),
                      omitted(), in_f32({1, n, s, l}, -2, 2)},
                     n));
  }
}

}  // namespace

std::vector<OpCase> contrib_extra_cases() {
  std::vector<OpCase> v;
  add_embed(v);
  add_fused_matmul(v);
  add_attention_sizes(v);
  add_attention_forms(v);
  add_attention_cache(v);
  return v;
}

}  // namespace kiln::testing
