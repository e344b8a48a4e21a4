// kiln conformance [DIR] [--device D] [--report FILE.json] [--expect FILE] [--filter S]
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "runtime/cli/args.h"
#include "runtime/cli/commands.h"
#include "runtime/opencl/opencl_backend.h"
#include "runtime/tools/conformance.h"
#include "runtime/vulkan/vulkan_backend.h"

namespace kiln::cli {

namespace {

constexpr const char* kDefaultDir = "/usr/share/libonnx-testdata/data/node";

const char* kHelp =
    "usage: kiln conformance [DIR] [options]\n"
    "Runs ONNX backend test cases (folders with model.onnx and test_data_set_*/).\n"
    "DIR defaults to the installed onnx test data ("
    "/usr/share/libonnx-testdata/data/node).\n"
    "\n"
    "  --device D         cpu (default), opencl[:N], vulkan[:N]\n"
    "  --report FILE      write the results as JSON (also --json)\n"
    "  --expect FILE      expected failures, one 'case  reason' per line\n"
    "  --filter TEXT      only cases whose name contains TEXT (repeatable)\n"
    "  --rtol R --atol A  tolerances (default 1e-3 and 1e-7, as onnx's runner)\n"
    "  --threads N        CPU threads\n"
    "  --quiet            print only failures and the totals\n"
    "Exit status: 0 when no case outside the expectations fails, 1 otherwise, 2 usage error.\n";

}  // namespace

int cmd_conformance(int argc, char** argv) {
  Args args({"device", "report", "json", "expect", "filter", "rtol", "atol", "threads"},
            {"quiet", "help"});
  if (!args.parse(argc, argv, 2)) {
    std::fprintf(stderr, "kiln conformance: %s\n%s", args.error().c_str(), kHelp);
    return kExitUsage;
  }
  if (args.flag("help")) {
    std::printf("%s", kHelp);
    return kExitOk;
  }
  if (args.positional().size() > 1) {
    std::fprintf(stderr, "kiln conformance: expected at most one folder\n%s", kHelp);
    return kExitUsage;
  }
  tools::ConformanceOptions opt;
  opt.device = args.get("device", "cpu");
  long long threads = 0;
  if (!args.get_int("threads", 0, &threads)) {
    std::fprintf(stderr, "kiln conformance: %s\n", args.error().c_str());
    return kExitUsage;
  }
  opt.threads = static_cast<int>(threads);
  try {
    if (args.has("rtol")) opt.rtol = std::stod(args.get("rtol"));
    if (args.has("atol")) opt.atol = std::stod(args.get("atol"));
  } catch (const std::exception&) {
    std::fprintf(stderr, "kiln conformance: --rtol and --atol expect numbers\n");
    return kExitUsage;
  }
  // A device that cannot be opened would make every case "unsupported": say so and fail instead.
  if (opt.device != "cpu") {
    if (opt.device.rfind("opencl", 0) == 0) {
      auto b = opencl::OpenClBackend::create(opt.device);
      if (!b) {
        std::fprintf(stderr, "kiln conformance: device %s is not available: %s\n",
                     opt.device.c_str(), b.status().message().c_str());
        return kExitFailure;
      }
    } else if (opt.device.rfind("vulkan", 0) == 0) {
      auto b = vulkan::VulkanBackend::create(opt.device);
      if (!b) {
        std::fprintf(stderr, "kiln conformance: device %s is not available: %s\n",
                     opt.device.c_str(), b.status().message().c_str());
        return kExitFailure;
      }
    } else {
      std::fprintf(stderr, "kiln conformance: unknown device %s\n", opt.device.c_str());
      return kExitUsage;
    }
  }
  std::string dir = args.positional().empty() ? kDefaultDir : args.positional()[0];
  auto cases = tools::find_cases(dir);
  if (!cases) {
    std::fprintf(stderr, "kiln conformance: %s\n", cases.status().message().c_str());
    return kExitFailure;
  }
  std::map<std::string, std::string> expected;
  if (args.has("expect")) {
    auto e = tools::read_expectations(args.get("expect"));
    if (!e) {
      std::fprintf(stderr, "kiln conformance: %s\n", e.status().message().c_str());
      return kExitFailure;
    }
    expected = std::move(*e);
  }
  std::vector<std::string> filters = args.all("filter");
  std::vector<std::string> selected;
  for (const auto& c : *cases) {
    std::string name = c.substr(c.find_last_of('/') + 1);
    bool keep = filters.empty();
    for (const auto& f : filters) keep = keep || name.find(f) != std::string::npos;
    if (keep) selected.push_back(c);
  }
  const bool quiet = args.flag("quiet");
  const bool tty = isatty(fileno(stdout));

  std::vector<tools::CaseResult> results;
  struct OpTotals {
    int pass = 0, fail = 0, unsupported = 0;
  };
  std::map<std::string, OpTotals> per_op;
  int passed = 0, failed = 0, unsup = 0, unexpected_fail = 0;
  std::vector<std::string> unexpected_passes;
  for (size_t i = 0; i < selected.size(); ++i) {
    tools::CaseResult r = tools::run_case(selected[i], opt);
    bool is_expected = expected.count(r.name) > 0;
    switch (r.status) {
      case tools::CaseStatus::kPass:
        ++passed;
        if (is_expected) unexpected_passes.push_back(r.name);
        break;
      case tools::CaseStatus::kFail:
        ++failed;
        if (!is_expected) ++unexpected_fail;
        break;
      case tools::CaseStatus::kUnsupported:
        ++unsup;
        break;
    }
    for (const auto& op : r.ops) {
      auto& t = per_op[op];
      (r.status == tools::CaseStatus::kPass   ? t.pass
       : r.status == tools::CaseStatus::kFail ? t.fail
                                              : t.unsupported)++;
    }
    bool show = !quiet || (r.status == tools::CaseStatus::kFail && !is_expected);
    if (show) {
      if (tty) std::printf("\r\033[K");
      std::printf("[%zu/%zu] %-11s %s", i + 1, selected.size(), case_status_name(r.status),
                  r.name.c_str());
      if (r.status == tools::CaseStatus::kFail && is_expected) std::printf(" (expected)");
      if (!r.message.empty()) std::printf(": %s", r.message.c_str());
      std::printf("\n");
    } else if (tty) {
      std::printf("\r\033[K[%zu/%zu] %s", i + 1, selected.size(), r.name.c_str());
    }
    std::fflush(stdout);
    results.push_back(std::move(r));
  }
  if (tty) std::printf("\r\033[K");
  if (!quiet) {
    std::printf("\nper op (pass / fail / unsupported):\n");
    for (const auto& [op, t] : per_op)
      std::printf("  %-32s %4d %4d %4d\n", op.c_str(), t.pass, t.fail, t.unsupported);
  }
  for (const auto& n : unexpected_passes)
    std::printf("note: %s passes but is listed in the expectations file\n", n.c_str());
  std::printf("conformance (%s): %d passed, %d failed (%d unexpected), %d unsupported, %zu cases\n",
              opt.device.c_str(), passed, failed, unexpected_fail, unsup, selected.size());

  std::string report = args.get("report", args.get("json"));
  if (!report.empty()) {
    nlohmann::json j;
    j["device"] = opt.device;
    j["passed"] = passed;
    j["failed"] = failed;
    j["unsupported"] = unsup;
    j["unexpected_failures"] = unexpected_fail;
    j["cases"] = nlohmann::json::array();
    for (const auto& r : results) {
      nlohmann::json c;
      c["name"] = r.name;
      c["status"] = case_status_name(r.status);
      c["max_abs_err"] =
          std::isfinite(r.max_abs_err) ? nlohmann::json(r.max_abs_err) : nlohmann::json(nullptr);
      c["message"] = r.message;
      c["ops"] = r.ops;
      c["expected_failure"] = expected.count(r.name) > 0;
      c["seconds"] = r.seconds;
      j["cases"].push_back(c);
    }
    std::ofstream f(report);
    if (!f) {
      std::fprintf(stderr, "kiln conformance: cannot write '%s'\n", report.c_str());
      return kExitFailure;
    }
    f << j.dump(1) << "\n";
  }
  return unexpected_fail == 0 ? kExitOk : kExitFailure;
}

}  // namespace kiln::cli
