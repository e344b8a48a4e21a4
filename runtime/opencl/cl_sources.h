// The OpenCL C sources of kernels/*.cl, embedded at build time (runtime/opencl/embed_cl.cmake).
#pragma once

#include <cstddef>
#include <string>

namespace kiln::opencl {

struct EmbeddedSource {
  const char* name;  // file name without extension: "elementwise"
  const char* text;
};
extern const EmbeddedSource kClSources[];
extern const size_t kClSourceCount;

// The source of kernels/<name>.cl, or nullptr.
inline const char* find_cl_source(const std::string& name) {
  for (size_t i = 0; i < kClSourceCount; ++i)
    if (name == kClSources[i].name) return kClSources[i].text;
  return nullptr;
}

}  // namespace kiln::opencl
