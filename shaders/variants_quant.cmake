# Shader variants for runtime/vulkan/ops_quant.cpp ("name|file.comp|defines").
