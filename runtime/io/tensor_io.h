// Tensor files for the command-line tools: NumPy .npy and serialized ONNX TensorProto (.pb).
#pragma once

#include <string>

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace kiln::io {

// Loads a tensor from `path`: .npy by extension or by its magic, .pb (TensorProto) otherwise.
// Errors name the file.
Expected<Tensor> load_tensor_file(const std::string& path);

// The file stem used for a tensor named `name` in a folder of tensors (`kiln run --inputs DIR`,
// `--output-dir DIR`): the name with '/', '\\' and ':' replaced by '_'.
std::string tensor_file_stem(const std::string& name);

// Writes `t` as a .npy file.
Status save_npy(const Tensor& t, const std::string& path);

}  // namespace kiln::io
