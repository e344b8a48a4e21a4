// PassManager, PatternPass and PassStats (see pass.h).
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <set>

#include "graph/passes/pass.h"
#include "graph/passes/util.h"

namespace kiln::passes {

std::string PassStats::to_string() const {
  std::string out;
  for (const auto& [what, n] : counts) {
    if (!out.empty()) out += ", ";
    out += what + ": " + std::to_string(n);
  }
  return out;
}

PatternPass::PatternPass(std::string name, std::vector<std::unique_ptr<RewritePattern>> patterns,
                         int max_rounds)
    : name_(std::move(name)), patterns_(std::move(patterns)), max_rounds_(max_rounds) {}

namespace {

bool targets(const std::vector<std::string>& ops, const ir::Node& n) {
  for (const std::string& t : ops) {
    auto colon = t.find(':');
    if (colon == std::string::npos) {
      if (n.domain().empty() && n.op_type() == t) return true;
    } else if (ir::normalize_domain(t.substr(0, colon)) == n.domain() &&
               t.substr(colon + 1) == n.op_type()) {
      return true;
    }
  }
  return false;
}

}  // namespace

Expected<bool> PatternPass::run(ir::Graph& g, PassContext& ctx) {
  bool changed_any = false;
  std::vector<std::vector<std::string>> target_lists;
  for (const auto& p : patterns_) target_lists.push_back(p->target_ops());
  for (int round = 0; round < max_rounds_; ++round) {
    bool changed = false;
    // Nodes alive this round; a node removed by a rewrite is skipped by checking liveness
    // (by pointer, never dereferencing a removed node).
    std::vector<ir::Node*> nodes = g.nodes();
    std::set<const ir::Node*> alive(nodes.begin(), nodes.end());
    for (ir::Node* n : nodes) {
      if (!alive.count(n)) continue;
      for (size_t i = 0; i < patterns_.size(); ++i) {
        if (!targets(target_lists[i], *n)) continue;
        size_t before = g.num_nodes();
        KILN_ASSIGN_OR_RETURN(bool did, patterns_[i]->apply(g, n, ctx));
        if (!did) continue;
        changed = true;
        // The rewrite may have removed any nodes: refresh the live set.
        alive.clear();
        for (ir::Node* m : g.nodes()) alive.insert(m);
        (void)before;
        break;
      }
    }
    if (!changed) break;
    changed_any = true;
    remove_dead_nodes(g);
    KILN_RETURN_IF_ERROR(g.topo_sort());
  }
  return changed_any;
}

PassManager::PassManager(PassManagerOptions options) : options_(options) {
#ifndef NDEBUG
  options_.verify_each = true;
#endif
  // KILN_VERIFY_PASSES=1 turns verification on in release builds too (the sanitizer run sets it).
  if (const char* v = std::getenv("KILN_VERIFY_PASSES"); v && std::string(v) == "1")
    options_.verify_each = true;
}

void PassManager::add(std::unique_ptr<Pass> pass) {
  passes_.push_back(std::move(pass));
}

Status PassManager::run(ir::Graph& g, PassContext& ctx) const {
  for (const auto& p : passes_) {
    auto t0 = std::chrono::steady_clock::now();
    Expected<bool> changed = p->run(g, ctx);
    if (!changed.has_value()) return changed.status().with_context("pass '" + p->name() + "'");
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    spdlog::debug("pass {}: {} ({:.2f} ms, {} nodes)", p->name(),
                  *changed ? "changed" : "no change", ms, g.num_nodes());
    if (*changed && options_.verify_each) {
      Status st = g.verify();
      if (!st.is_ok())
        return internal_error("pass '" + p->name() + "' left an invalid graph: " + st.message());
    }
    if (*changed && options_.dump_each) spdlog::debug("after {}:\n{}", p->name(), g.dump());
  }
  return Status::ok();
}

Expected<PassManager> PassManager::for_level(int level, PassManagerOptions options) {
  if (level != 0 && level != 1 && level != 2 && level != 99)
    return invalid_argument("optimization level " + std::to_string(level) +
                            " is not one of 0 (none), 1 (basic), 2 (extended), 99 (all)");
  PassManager pm(options);
  if (level >= 1) add_basic_passes(pm);
  if (level >= 2) add_extended_passes(pm);
  if (level >= 99) add_all_passes(pm);
  return pm;
}

Status optimize(ir::Graph& g, PassContext& ctx, PassManagerOptions options) {
  KILN_ASSIGN_OR_RETURN(PassManager pm, PassManager::for_level(ctx.level, options));
  return pm.run(g, ctx);
}

}  // namespace kiln::passes
