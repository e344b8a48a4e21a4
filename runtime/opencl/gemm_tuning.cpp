// The per-device SGEMM tuning table (see gemm_tuning.h). Entries were chosen by measurement
// with bench/gemm_bench on the machines named in each comment; add a row when tuning a new
// device (KILN_GEMM_TUNING lets you try parameters without rebuilding).
#include "runtime/opencl/gemm_tuning.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

#include "runtime/opencl/cl_context.h"
#include "runtime/opencl/opencl_backend.h"
#include "runtime/profile.h"

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

namespace {

std::mutex g_mu;
std::optional<GemmTuning> g_forced;
// Saved entries by device key, loaded once per process (nullopt: not loaded yet).
std::optional<std::map<std::string, std::string>> g_saved;

std::string device_key(const OpenClDeviceInfo& info) {
  return info.platform_name + "|" + info.name + "|" + info.driver_version;
}

// "nn_tm=8,nn_vw=16,..." for every tunable field.
std::string to_overrides(const GemmTuning& t) {
  std::ostringstream o;
  o << "nn_tm=" << t.nn_tm << ",nn_vw=" << t.nn_vw << ",nn_nv=" << t.nn_nv << ",nn_lx=" << t.nn_lx
    << ",nn_ly=" << t.nn_ly << ",nt_tm=" << t.nt_tm << ",nt_tn=" << t.nt_tn << ",nt_vw=" << t.nt_vw
    << ",nt_lx=" << t.nt_lx << ",nt_ly=" << t.nt_ly
    << ",nn_transpose_min_m=" << t.nn_transpose_min_m
    << ",nn_transpose_min_kn=" << t.nn_transpose_min_kn
    << ",nn_transpose_big_kn=" << t.nn_transpose_big_kn << ",gen_lx=" << t.gen_lx
    << ",gen_ly=" << t.gen_ly;
  return o.str();
}

nlohmann::json read_saved_file(const std::string& file) {
  std::ifstream f(file);
  if (!f) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

// The saved override string for `info`, "" when none (caller holds g_mu).
std::string saved_entry_locked(const OpenClDeviceInfo& info) {
  if (!g_saved) {
    g_saved.emplace();
    const std::string file = gemm_tuning_file();
    if (!file.empty()) {
      const nlohmann::json j = read_saved_file(file);
      for (auto it = j.begin(); it != j.end(); ++it)
        if (it.value().is_object() && it.value().contains("tuning") &&
            it.value()["tuning"].is_string())
          (*g_saved)[it.key()] = it.value()["tuning"].get<std::string>();
    }
  }
  auto it = g_saved->find(device_key(info));
  return it == g_saved->end() ? "" : it->second;
}

}  // namespace

void force_gemm_tuning(const GemmTuning* t) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (t)
    g_forced = *t;
  else
    g_forced.reset();
}

std::string gemm_tuning_file() {
  const std::string dir = kernel_cache_dir();
  return dir.empty() ? "" : dir + "/gemm_tuning.json";
}

Status save_gemm_tuning(const OpenClDeviceInfo& info, const GemmTuning& t,
                        const std::string& note) {
  namespace fs = std::filesystem;
  const std::string file = gemm_tuning_file();
  if (file.empty()) return invalid_argument("the cache is off (KILN_CACHE_DIR=off): nothing saved");
  if (std::string err = t.validate(info.max_work_group_size); !err.empty())
    return invalid_argument("not saving an invalid GEMM tuning: " + err);
  std::lock_guard<std::mutex> lock(g_mu);
  nlohmann::json j = read_saved_file(file);
  j[device_key(info)] = {{"tuning", to_overrides(t)}, {"note", note}};
  std::error_code ec;
  fs::create_directories(fs::path(file).parent_path(), ec);
  const std::string tmp = file + ".tmp" + std::to_string(::getpid());
  std::ofstream o(tmp);
  o << j.dump(1) << "\n";
  o.close();
  if (o) fs::rename(tmp, file, ec);
  if (!o || ec) {
    fs::remove(tmp, ec);
    return io_error("cannot write " + file);
  }
  g_saved.reset();  // read again on the next lookup
  return Status::ok();
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
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_forced) return *g_forced;
    const std::string saved = saved_entry_locked(info);
    if (!saved.empty()) {
      GemmTuning o = t;
      std::string err = apply_gemm_tuning_overrides(saved, &o);
      if (err.empty()) err = o.validate(info.max_work_group_size);
      if (err.empty()) {
        o.source = "saved";
        t = o;
      } else {
        static std::once_flag warned;
        std::call_once(warned, [&] {
          spdlog::warn("the saved GEMM tuning in {} is ignored: {}", gemm_tuning_file(), err);
        });
      }
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

namespace kiln::opencl {

namespace {

// Restores the normal tuning however tune_gemm returns.
struct ForcedTuning {
  explicit ForcedTuning(const GemmTuning& t) { force_gemm_tuning(&t); }
  ~ForcedTuning() { force_gemm_tuning(nullptr); }
  ForcedTuning(const ForcedTuning&) = delete;
  ForcedTuning& operator=(const ForcedTuning&) = delete;
};

}  // namespace

Expected<GemmTuneResult> tune_gemm(OpenClBackend& backend, int64_t M, int64_t N, int64_t K,
                                   const std::function<void(const GemmTuneRow&)>& on_row) {
  if (M < 1 || N < 1 || K < 1 || M > 16384 || N > 16384 || K > 16384)
    return invalid_argument("--tune needs 1 <= M, N, K <= 16384");
  const OpenClDeviceInfo& info = backend.context().info();
  GemmTuneResult r;
  r.base = gemm_tuning_for(info);
  const double flops =
      2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  // About 0.2 s of device time per candidate at most, at least 3 timed launches.
  const int reps = static_cast<int>(std::clamp(2e10 / std::max(flops, 1.0), 3.0, 20.0));
  auto run = [&](const std::string& stage, GemmTuning t) -> GemmTuneRow {
    GemmTuneRow row;
    row.stage = stage;
    t.source = "candidate";
    row.tuning = t;
    if (std::string err = t.validate(info.max_work_group_size); !err.empty()) {
      row.error = err;
    } else {
      ForcedTuning forced(t);
      auto s = time_device_op(backend, "MatMul", {{M, K}, {K, N}}, reps, &row.kernel);
      if (s) {
        row.ms = *s * 1e3;
        row.gflops = *s > 0 ? flops / *s * 1e-9 : 0;
      } else {
        row.error = s.status().message();
      }
    }
    r.rows.push_back(row);
    if (on_row) on_row(row);
    return row;
  };
  auto better = [](const GemmTuneRow& a, const GemmTuneRow* b) {
    return a.ms > 0 && (!b || b->ms <= 0 || a.ms < b->ms);
  };

  // 1. The path: gemm_nn on B as stored, or B transposed then gemm_nt.
  GemmTuning nn = r.base, nt = r.base;
  nn.nn_transpose_min_kn = 0;
  nn.nn_transpose_big_kn = 0;
  nt.nn_transpose_big_kn = 1;
  const GemmTuneRow base_row = run("today", r.base);
  r.base_ms = base_row.ms;
  GemmTuneRow best = base_row;
  const GemmTuneRow nn_row = run("path nn", nn);
  const GemmTuneRow nt_row = N >= r.base.nn_cols() ? run("path nt", nt) : GemmTuneRow{};
  const bool use_nt = better(nt_row, &nn_row);
  const GemmTuneRow& path_best = use_nt ? nt_row : nn_row;
  if (better(path_best, &best)) best = path_best;
  if (best.ms <= 0)
    return runtime_error("no GEMM candidate ran: " +
                         (base_row.error.empty() ? nn_row.error : base_row.error));

  // 2. Tile shapes of the winning path (each builds kernels/matmul.cl once).
  GemmTuning start = use_nt ? nt : nn;
  GemmTuning tile_best = start;
  double tile_ms = path_best.ms > 0 ? path_best.ms : 1e30;
  if (use_nt) {
    const int shapes[][3] = {{4, 4, 8}, {2, 8, 16}, {8, 2, 16}, {4, 2, 16}, {2, 4, 16}};
    for (const auto& sh : shapes) {
      GemmTuning t = start;
      t.nt_tm = sh[0];
      t.nt_tn = sh[1];
      t.nt_vw = sh[2];
      if (t.nt_tm == start.nt_tm && t.nt_tn == start.nt_tn && t.nt_vw == start.nt_vw) continue;
      GemmTuneRow row = run("tile", t);
      if (row.ms > 0 && row.ms < tile_ms) {
        tile_ms = row.ms;
        tile_best = t;
      }
    }
  } else {
    const int shapes[][3] = {{4, 16, 1}, {8, 8, 1}, {4, 8, 2}, {12, 16, 1}, {8, 8, 2}};
    for (const auto& sh : shapes) {
      GemmTuning t = start;
      t.nn_tm = sh[0];
      t.nn_vw = sh[1];
      t.nn_nv = sh[2];
      if (t.nn_tm == start.nn_tm && t.nn_vw == start.nn_vw && t.nn_nv == start.nn_nv) continue;
      if (N < t.nn_cols()) continue;
      GemmTuneRow row = run("tile", t);
      if (row.ms > 0 && row.ms < tile_ms) {
        tile_ms = row.ms;
        tile_best = t;
      }
    }
  }

  // 3. Work-group sizes (no rebuild).
  GemmTuning wg_best = tile_best;
  double wg_ms = tile_ms;
  const int groups[][2] = {{4, 4}, {16, 4}, {4, 16}, {16, 16}, {8, 8}};
  for (const auto& g : groups) {
    GemmTuning t = tile_best;
    int& lx = use_nt ? t.nt_lx : t.nn_lx;
    int& ly = use_nt ? t.nt_ly : t.nn_ly;
    if (lx == g[0] && ly == g[1]) continue;
    lx = g[0];
    ly = g[1];
    if (info.max_work_group_size > 0 &&
        static_cast<uint64_t>(lx) * static_cast<uint64_t>(ly) > info.max_work_group_size)
      continue;
    GemmTuneRow row = run("work-group", t);
    if (row.ms > 0 && row.ms < wg_ms) {
      wg_ms = row.ms;
      wg_best = t;
    }
  }

  // The entry to store: the winner's tiles with the base's transpose thresholds, moved only as
  // far as needed for this shape to take the winning path.
  GemmTuning out = wg_best;
  out.nn_transpose_min_m = r.base.nn_transpose_min_m;
  out.nn_transpose_min_kn = r.base.nn_transpose_min_kn;
  out.nn_transpose_big_kn = r.base.nn_transpose_big_kn;
  const int64_t kn = K * N;
  auto transposes = [&](const GemmTuning& t) {
    return (t.nn_transpose_min_kn > 0 && M >= t.nn_transpose_min_m &&
            kn >= t.nn_transpose_min_kn) ||
           (t.nn_transpose_big_kn > 0 && kn >= t.nn_transpose_big_kn);
  };
  if (use_nt && !transposes(out)) {
    out.nn_transpose_min_m = static_cast<int>(std::min<int64_t>(M, 1 << 30));
    out.nn_transpose_min_kn = static_cast<int>(std::min<int64_t>(kn, 1 << 30));
  } else if (!use_nt && transposes(out)) {
    if (out.nn_transpose_min_kn > 0 && M >= out.nn_transpose_min_m)
      out.nn_transpose_min_m = static_cast<int>(std::min<int64_t>(M + 1, 1 << 30));
    if (out.nn_transpose_big_kn > 0 && kn >= out.nn_transpose_big_kn)
      out.nn_transpose_big_kn = static_cast<int>(std::min<int64_t>(kn + 1, 1 << 30));
  }
  out.source = "tuned";
  // 4. Confirm: time today's parameters and the winner again, alternating, so that a noisy
  // machine does not crown a fluke; each keeps its best time over every measurement.
  const GemmTuning winner = wg_best;
  double win_ms = wg_ms;
  double base_ms = r.base_ms > 0 ? r.base_ms : 1e30;
  for (int round = 0; round < 2; ++round) {
    const GemmTuneRow a = run("confirm", r.base);
    if (a.ms > 0) base_ms = std::min(base_ms, a.ms);
    const GemmTuneRow b = run("confirm", winner);
    if (b.ms > 0) win_ms = std::min(win_ms, b.ms);
  }
  r.base_ms = base_ms < 1e30 ? base_ms : 0;
  r.best = out;
  r.best_ms = win_ms;
  if (base_ms <= win_ms) {  // today's parameters are as fast as anything tried
    r.best = r.base;
    r.best.source = "tuned (today's)";
    r.best_ms = base_ms;
  }
  return r;
}

std::string gemm_tuning_table_entry(const GemmTuning& t, const OpenClDeviceInfo& info) {
  std::ostringstream o;
  std::string tag = info.name.substr(0, info.name.find(' '));
  for (char& c : tag)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '-';
  o << "      {\"tuned-" << tag << "\",\n"
    << "       [](const OpenClDeviceInfo& d) {\n"
    << "         return contains(d.platform_name, \"" << info.platform_name << "\") &&\n"
    << "                contains(d.name, \"" << info.name << "\");\n"
    << "       },\n"
    << "       [](GemmTuning* g) {\n";
  const std::pair<const char*, int> fields[] = {{"nn_tm", t.nn_tm},
                                                {"nn_vw", t.nn_vw},
                                                {"nn_nv", t.nn_nv},
                                                {"nn_lx", t.nn_lx},
                                                {"nn_ly", t.nn_ly},
                                                {"nt_tm", t.nt_tm},
                                                {"nt_tn", t.nt_tn},
                                                {"nt_vw", t.nt_vw},
                                                {"nt_lx", t.nt_lx},
                                                {"nt_ly", t.nt_ly},
                                                {"nn_transpose_min_m", t.nn_transpose_min_m},
                                                {"nn_transpose_min_kn", t.nn_transpose_min_kn},
                                                {"nn_transpose_big_kn", t.nn_transpose_big_kn}};
  for (const auto& [name, v] : fields) o << "         g->" << name << " = " << v << ";\n";
  o << "       }},\n";
  return o.str();
}

}  // namespace kiln::opencl
