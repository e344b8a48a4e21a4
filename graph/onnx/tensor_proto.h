// TensorProto <-> Tensor, including external data kept beside the model.
#pragma once

#include <string>

#include "onnx/onnx_pb.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace kiln::onnx_io {

// Converts `proto` to a Tensor. `what` names the tensor in errors (e.g. "initializer 'W'").
// External data is resolved relative to `base_dir`; an empty base_dir refuses external data.
// Checks: known dtype, non-negative dims, raw_data / typed field sizes against the dims,
// external paths that are absolute or leave base_dir, offset/length against the file size.
Expected<Tensor> tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir,
                                   const std::string& what);

// Writes `t` into `proto` as raw_data (dims, data_type, name).
void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* proto);

// Reads a serialized TensorProto file (the ONNX test-data `input_0.pb` format).
Expected<Tensor> read_tensor_pb(const std::string& path);
Status write_tensor_pb(const Tensor& t, const std::string& name, const std::string& path);

// Resolves an external-data location against base_dir, refusing absolute paths and paths that
// leave base_dir (also through symlinks). Returns the resolved path.
Expected<std::string> resolve_external_path(const std::string& base_dir,
                                            const std::string& location);

}  // namespace kiln::onnx_io
