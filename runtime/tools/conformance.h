// Runs ONNX backend test cases: a folder holding model.onnx and test_data_set_*/ with
// input_*.pb and output_*.pb (TensorProto files). Compares like onnx's backend test runner:
// |actual - expected| <= atol + rtol * |expected|, NaNs equal, dtypes and shapes equal.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace kiln::tools {

enum class CaseStatus { kPass, kFail, kUnsupported };
const char* case_status_name(CaseStatus s);

struct CaseResult {
  std::string name;
  CaseStatus status = CaseStatus::kFail;
  double max_abs_err = 0;
  double max_rel_err = 0;
  std::string message;
  std::vector<std::string> ops;  // op types in the model ("domain.Op" outside ai.onnx)
  double seconds = 0;
};

struct ConformanceOptions {
  std::string device = "cpu";
  double rtol = 1e-3;
  double atol = 1e-7;
  int threads = 0;
};

// Case folders under `dir`: `dir` itself when it holds model.onnx, else every sub-folder
// that does (sorted by name).
Expected<std::vector<std::string>> find_cases(const std::string& dir);
CaseResult run_case(const std::string& case_dir, const ConformanceOptions& options);

struct Comparison {
  bool ok = true;
  double max_abs = 0, max_rel = 0;
  std::string message;  // why not ok
};
// Compares actual to expected: dtype and shape must match, values within tolerance.
Comparison compare_tensors(const Tensor& actual, const Tensor& expected, double rtol, double atol);

// Expectations: one case per line, "name  reason"; '#' starts a comment.
Expected<std::map<std::string, std::string>> read_expectations(const std::string& path);

}  // namespace kiln::tools
