# Shader variants for runtime/vulkan/ops_conv.cpp and ops_pool.cpp ("name|file.comp|defines").
list(APPEND KILN_SHADER_VARIANTS
  "conv_m4p4|conv.comp|"
  "conv_m1p8|conv.comp|-DM1P8"
  "conv_m8p4|conv.comp|-DM8P4"
  "conv_m8p8|conv.comp|-DM8P8"
  "conv_dw|conv.comp|-DDW"
  "pool_f32|pool.comp|"
  "global_pool_f32|pool.comp|-DGLOBAL"
  "batchnorm_f32|batchnorm.comp|"
  "batchnorm_affine_f32|batchnorm.comp|-DAFFINE"
  "resize_f32|resize.comp|"
)
