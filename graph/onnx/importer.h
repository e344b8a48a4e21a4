// ONNX import: file -> protobuf -> checker -> shape inference -> kiln IR.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/status.h"

namespace kiln::onnx_io {

struct ImportOptions {
  bool run_checker = true;
  bool infer_shapes = true;
};

struct Model {
  std::unique_ptr<ir::Graph> graph;
  std::string path;      // the file it came from ("" when loaded from bytes)
  std::string base_dir;  // folder for external data
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::vector<std::string> external_files;  // relative locations, each listed once
  std::vector<std::string> warnings;        // checker / shape inference problems not fatal
};

// The newest ai.onnx opset the linked libonnx knows.
int max_known_onnx_opset();

Expected<Model> load_model(const std::string& path, const ImportOptions& options = {});
// `base_dir` is where external data is looked up ("" forbids external data).
Expected<Model> load_model_from_bytes(const std::string& bytes, const std::string& base_dir,
                                      const std::string& display_name,
                                      const ImportOptions& options = {});

}  // namespace kiln::onnx_io
