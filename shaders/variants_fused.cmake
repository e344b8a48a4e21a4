# Shader variants for runtime/vulkan/ops_fused.cpp ("name|file.comp|defines"): the
# FusedElementwise interpreter (float32).
list(APPEND KILN_SHADER_VARIANTS
  "fused_elementwise_f32|fused_elementwise.comp|"
)
