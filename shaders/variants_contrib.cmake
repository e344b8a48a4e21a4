# Shader variants for runtime/vulkan/ops_contrib.cpp ("name|file.comp|defines").
list(APPEND KILN_SHADER_VARIANTS
  "contrib_act_f32|contrib_act.comp|"
  "contrib_norm_f32|contrib_norm.comp|"
  "contrib_embed_f32|contrib_embed.comp|"
  "attention_kv_f32|attention_kv.comp|"
  "attention_f32|attention.comp|"
  "attention_f32_h32|attention.comp|-DHEAD=32"
  "attention_f32_h64|attention.comp|-DHEAD=64"
  "attention_f32_h80|attention.comp|-DHEAD=80"
  "attention_f32_h96|attention.comp|-DHEAD=96"
  "attention_f32_h128|attention.comp|-DHEAD=128"
)
