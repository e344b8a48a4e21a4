// The per-device SGEMM tuning table (see gemm_tuning.h). Entries were chosen by measurement
// with bench/gemm_bench on the machines named in each comment; add a row when tuning a new
// device (KILN_GEMM_TUNING lets you try parameters without rebuilding).
#include "runtime/opencl/gemm_tuning.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <functional>
#include <mutex>
#include <sstream>
#include <vector>

namespace kiln::opencl {

namespace {

bool contains(const std::string& s, const char* what) {
  return s.find(what) != std::string::npos;
}

struct TableEntry {
  const char* name;
  std::function<bool(const OpenClDeviceInfo&)> matches;
  std::function<void(GemmTuning*)> set;
};

// First match wins.
const std::vector<TableEntry>& table() {
  static const std::vector<TableEntry> t = {
      // PoCL 3.1 (LLVM 15) on an AVX-512 CPU: measured on the 2-core AMD Zen 4 build machine
      // ("pthread-skylake-avx512-AMD EPYC"). gemm_nn: one float16 of B per k and 8
      // rows per work-item (8 zmm accumulators; 12 rows or 2 vectors were not faster);
      // gemm_nt: 4 x 4 float16 dot products (4x2, 2x8, 3x4 and float8 were slower).
      // Work-groups of 8 x 8 beat 1x1, 4x4 and 16x1. Transposing B for gemm_nt took 1024^3
      // from ~50 to ~80-140 GFLOP/s and 2048^3 from ~25 to ~60-120; at M = 128 it only pays
      // once K * N passes ~2M (128x3072x1536: 34 -> 53).
      {"pocl-avx512",
       [](const OpenClDeviceInfo& d) {
         return contains(d.platform_name, "Portable Computing Language") &&
                contains(d.name, "avx512");
       },
       [](GemmTuning* g) {
         g->nn_tm = 8;
         g->nn_vw = 16;
         g->nn_nv = 1;
         g->nn_lx = 8;
         g->nn_ly = 8;
         g->nt_tm = 4;
         g->nt_tn = 4;
         g->nt_vw = 16;
         g->nt_lx = 8;
         g->nt_ly = 8;
         g->nn_transpose_min_m = 256;
         g->nn_transpose_min_kn = 65536;
         g->nn_transpose_big_kn = 2000000;
       }},
  };
  return t;
}

bool in_range(int v, int lo, int hi) {
  return v >= lo && v <= hi;
}
bool is_vw(int v) {
  return v == 1 || v == 2 || v == 4 || v == 8 || v == 16;
}

}  // namespace

std::string GemmTuning::build_options() const {
  std::ostringstream o;
  o << "-DTM=4 -DTN=4 -DNN_TM=" << nn_tm << " -DNN_VW=" << nn_vw << " -DNN_NV=" << nn_nv
    << " -DNT_TM=" << nt_tm << " -DNT_TN=" << nt_tn << " -DNT_VW=" << nt_vw;
  return o.str();
}

std::string GemmTuning::to_string() const {
  std::ostringstream o;
  o << source << ": nn " << nn_tm << "x" << nn_nv << "*" << nn_vw << " wg " << nn_lx << "x" << nn_ly
    << ", nt " << nt_tm << "x" << nt_tn << "/" << nt_vw << " wg " << nt_lx << "x" << nt_ly
    << ", transpose B when M >= " << nn_transpose_min_m << " and K*N >= " << nn_transpose_min_kn
    << " or K*N >= " << nn_transpose_big_kn << ", general wg " << gen_lx << "x" << gen_ly;
  return o.str();
}

std::string GemmTuning::validate(uint64_t max_wg) const {
  if (!in_range(nn_tm, 1, 16) || !in_range(nn_nv, 1, 4) || !is_vw(nn_vw) || nn_vw < 2)
    return "nn_tm must be 1..16, nn_nv 1..4, nn_vw 2, 4, 8 or 16";
  if (!in_range(nt_tm, 1, 8) || !in_range(nt_tn, 1, 8) || !is_vw(nt_vw) || nt_vw < 4)
    return "nt_tm and nt_tn must be 1..8, nt_vw 4, 8 or 16";
  for (int l : {nn_lx, nn_ly, nt_lx, nt_ly, gen_lx, gen_ly})
    if (!in_range(l, 1, 1024)) return "work-group sides must be 1..1024";
  if (max_wg > 0) {
    for (int64_t p : {int64_t{nn_lx} * nn_ly, int64_t{nt_lx} * nt_ly, int64_t{gen_lx} * gen_ly})
      if (static_cast<uint64_t>(p) > max_wg)
        return "a work-group of " + std::to_string(p) + " exceeds the device's " +
               std::to_string(max_wg);
  }
  return "";
}

std::string apply_gemm_tuning_overrides(const std::string& spec, GemmTuning* t) {
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos) return "'" + item + "' is not key=value";
    std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    char* end = nullptr;
    long v = std::strtol(val.c_str(), &end, 10);
    if (val.empty() || *end != '\0' || v < 0 || v > (1L << 30))
      return "bad value in '" + item + "'";
    int* field = key == "nn_tm"                 ? &t->nn_tm
                 : key == "nn_vw"               ? &t->nn_vw
                 : key == "nn_nv"               ? &t->nn_nv
                 : key == "nn_lx"               ? &t->nn_lx
                 : key == "nn_ly"               ? &t->nn_ly
                 : key == "nt_tm"               ? &t->nt_tm
                 : key == "nt_tn"               ? &t->nt_tn
                 : key == "nt_vw"               ? &t->nt_vw
                 : key == "nt_lx"               ? &t->nt_lx
                 : key == "nt_ly"               ? &t->nt_ly
                 : key == "nn_transpose_min_m"  ? &t->nn_transpose_min_m
                 : key == "nn_transpose_min_kn" ? &t->nn_transpose_min_kn
                 : key == "nn_transpose_big_kn" ? &t->nn_transpose_big_kn
                 : key == "gen_lx"              ? &t->gen_lx
                 : key == "gen_ly"              ? &t->gen_ly
                                                : nullptr;
    if (!field) return "unknown key '" + key + "'";
    *field = static_cast<int>(v);
  }
  return "";
}

GemmTuning gemm_tuning_for(const OpenClDeviceInfo& info) {
  GemmTuning t;
  for (const TableEntry& e : table()) {
    if (e.matches(info)) {
      e.set(&t);
      t.source = e.name;
      break;
    }
  }
  if (const char* env = std::getenv("KILN_GEMM_TUNING"); env && *env) {
    GemmTuning o = t;
    std::string err = apply_gemm_tuning_overrides(env, &o);
    if (err.empty()) err = o.validate(info.max_work_group_size);
    if (err.empty()) {
      o.source = t.source + "+env";
      t = o;
    } else {
      static std::once_flag warned;  // once per process, not per prepared kernel
      std::call_once(warned, [&] { spdlog::warn("KILN_GEMM_TUNING ignored: {}", err); });
    }
  }
  return t;
}

}  // namespace kiln::opencl
