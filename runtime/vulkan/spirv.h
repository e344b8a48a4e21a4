// The SPIR-V of every compute-shader variant, compiled at build time from shaders/*.comp and
// embedded in the binary (the list of variants is shaders/CMakeLists.txt).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::vulkan {

// The words of variant `name` ("binary_f32"), or an empty span when there is no such variant.
std::span<const uint32_t> spirv_for(std::string_view name);
// Every variant's name, sorted.
std::vector<std::string> spirv_names();

}  // namespace kiln::vulkan
