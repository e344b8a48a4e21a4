# Shader variants for runtime/vulkan/ops_quant.cpp ("name|file.comp|defines").
list(APPEND KILN_SHADER_VARIANTS
  "quantize_linear|quant.comp|-DQUANTIZE"
  "dequantize_linear|quant.comp|-DDEQUANTIZE"
  "dql_partial|quant.comp|-DDQL_PARTIAL"
  "dql_params|quant.comp|-DDQL_PARAMS"
  "dql_quantize|quant.comp|-DDQL_QUANTIZE"
  "qgemm_4x4|quant_gemm.comp|"
  "qgemm_4x4_words|quant_gemm.comp|-DWORDS"
  "qgemm_4x8_words|quant_gemm.comp|-DWORDS -DTN8"
  # packed 4 x 8-bit dot products (OpUDot): picked when shaderIntegerDotProduct is enabled
  "qgemm_4x4_dot|quant_gemm.comp|-DWORDS -DDOT"
  "qlinear_requant|quant_requant.comp|"
)
