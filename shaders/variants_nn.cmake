# Shader variants for runtime/vulkan/ops_nn.cpp ("name|file.comp|defines").
