// Small pieces every kiln subcommand shares: the failure type, one-line error printing, and the
// check of a --device value.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "runtime/cli/args.h"
#include "runtime/cli/commands.h"

namespace kiln::cli {

struct Failure {
  int code = kExitFailure;
  std::string message;
};

// Error messages from libraries may span lines (the onnx checker's do); errors print as one.
inline std::string one_line(const std::string& m) {
  std::string out;
  bool space = false;
  for (char c : m) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// Prints "kiln COMMAND: message" on stderr (with a pointer to --help for usage errors) and
// returns the exit code.
inline int report_failure(const char* command, const Failure& f) {
  std::fflush(stdout);
  std::fprintf(
      stderr, "kiln %s: %s%s\n", command, one_line(f.message).c_str(),
      f.code == kExitUsage ? (std::string(" (see 'kiln ") + command + " --help')").c_str() : "");
  return f.code;
}

// A fresh temporary folder (PREFIX-XXXXXX under the system's temporary directory), removed with
// its contents at scope exit; path() is empty when it could not be created.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string tmpl = (base / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// auto, cpu, opencl, vulkan, opencl:N, vulkan:N.
inline bool valid_device(const std::string& d) {
  if (d == "auto" || d == "cpu" || d == "opencl" || d == "vulkan") return true;
  for (const char* api : {"opencl:", "vulkan:"}) {
    std::string p = api;
    if (d.rfind(p, 0) == 0 && d.size() > p.size() &&
        d.find_first_not_of("0123456789", p.size()) == std::string::npos)
      return true;
  }
  return false;
}

// The common head of the commands that take a model: exactly one positional MODEL and a valid
// --device (default auto). Both are usage errors.
inline std::optional<Failure> model_and_device(const Args& args, std::string* model,
                                               std::string* device) {
  if (args.positional().size() != 1)
    return Failure{kExitUsage, args.positional().empty()
                                   ? "expected a model file"
                                   : "expected one model file, got " +
                                         std::to_string(args.positional().size()) + " arguments"};
  *model = args.positional()[0];
  *device = args.get("device", "auto");
  if (!valid_device(*device))
    return Failure{kExitUsage, "unknown device '" + *device +
                                   "' (expected auto, cpu, opencl[:N] or vulkan[:N])"};
  return std::nullopt;
}

// --level N: the graph optimization level, 0 (none), 1 (basic, the default), 2 (extended) or
// 99 (all); anything else is a usage error.
inline std::optional<Failure> optimization_level(const Args& args, int* level) {
  const std::string v = args.get("level", "1");
  if (v == "0" || v == "1" || v == "2" || v == "99") {
    *level = std::stoi(v);
    return std::nullopt;
  }
  return Failure{kExitUsage,
                 "--level must be 0 (none), 1 (basic), 2 (extended) or 99 (all), got '" + v + "'"};
}

// --precision fp32|fp16 (SessionOptions::precision); anything else is a usage error.
inline std::optional<Failure> precision(const Args& args, std::string* out) {
  const std::string v = args.get("precision", "fp32");
  if (v == "fp32" || v == "fp16") {
    *out = v;
    return std::nullopt;
  }
  return Failure{kExitUsage, "--precision must be fp32 or fp16, got '" + v + "'"};
}

// --inputs DIR must name a folder (a failure, not a usage error).
inline std::optional<Failure> check_inputs_folder(const std::string& dir) {
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
    return Failure{kExitFailure, "--inputs: '" + dir + "' is not a folder"};
  return std::nullopt;
}

}  // namespace kiln::cli
