// Small pieces every kiln subcommand shares: the failure type, one-line error printing, and the
// check of a --device value.
#pragma once

#include <cstdio>
#include <string>

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

}  // namespace kiln::cli
