# Shader variants for runtime/vulkan/ops_contrib.cpp ("name|file.comp|defines").
