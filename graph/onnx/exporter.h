// ONNX export: kiln IR -> ModelProto file (the inverse of importer.h), for `kiln optimize` and
// round-trip tests. Initializers are written as raw_data; big ones (or all of them when the
// model would pass protobuf's 2 GiB limit) go to one external data file beside the model.
#pragma once

#include <cstdint>
#include <string>

#include "graph/ir/graph.h"
#include "onnx/onnx_pb.h"
#include "runtime/core/status.h"

namespace kiln::onnx_io {

struct ExportOptions {
  // IR version to write; raised to what the graph's opsets need (at least 7).
  int64_t ir_version = 0;
  std::string producer_name = "kiln";
  std::string producer_version = "0.1.0";
  // Initializers of at least this many bytes go to the external data file (-1: only when the
  // model would otherwise pass 2 GiB; then every initializer of 1 KiB or more goes there).
  int64_t external_threshold = -1;
  // External data file name, beside the model ("" : the model's file name + ".data").
  std::string external_file;
  // Write initializers that nothing reads (folded away by passes). Off by default.
  bool keep_unused_initializers = false;
  // Write value_info for intermediate values whose dtype is known.
  bool write_value_info = true;
};

// Builds the ModelProto of `g`. Tensors selected for external data are written by save_model;
// here they are inline. Graph (subgraph) attributes are refused: the importer does not keep them.
Expected<onnx::ModelProto> to_model_proto(const ir::Graph& g, const ExportOptions& options = {});

// Writes `g` to `path` (and `path`.data when some tensors go external). The files are written
// beside their final names and renamed into place, so `path` may be the model being read.
Status save_model(const ir::Graph& g, const std::string& path, const ExportOptions& options = {});

}  // namespace kiln::onnx_io
