# Shader variants for runtime/vulkan/ops_qconv.cpp ("name|file.comp|defines").
list(APPEND KILN_SHADER_VARIANTS
  "qconv_i32|qconv.comp|"
  "qconv_i32_m4|qconv.comp|-DM4"
  "qconv_requant|qconv.comp|-DREQUANT"
)
