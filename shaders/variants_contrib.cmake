# Shader variants for runtime/vulkan/ops_contrib.cpp and ops_attention.cpp ("name|file.comp|defines").
# The per-head-size attention variants read Q, K, V as vec4 (their offsets are checked at enqueue);
# a misaligned or other head size takes the generic attention_f32. Scalar-load per-head variants
# are left out on purpose: lavapipe needed minutes to compile their unrolled loops.
list(APPEND KILN_SHADER_VARIANTS
  "contrib_act_f32|contrib_act.comp|"
  "contrib_norm_f32|contrib_norm.comp|"
  "contrib_embed_f32|contrib_embed.comp|"
  "attention_kv_f32|attention_kv.comp|"
  "attention_f32|attention.comp|"
  "attention_f32_h16_vec4|attention.comp|-DHEAD=16 -DVEC4"
  "attention_f32_h32_vec4|attention.comp|-DHEAD=32 -DVEC4"
  "attention_f32_h64_vec4|attention.comp|-DHEAD=64 -DVEC4"
  "attention_f32_h80_vec4|attention.comp|-DHEAD=80 -DVEC4"
  "attention_f32_h96_vec4|attention.comp|-DHEAD=96 -DVEC4"
  "attention_f32_h128_vec4|attention.comp|-DHEAD=128 -DVEC4"
)
