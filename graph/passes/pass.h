// Graph passes: the interfaces every optimization shares.
//
// A Pass rewrites a whole graph and says whether it changed anything; a RewritePattern is a local
// rule (target ops, match, rewrite) that PatternPass applies to every node of those op types
// until nothing more matches. Passes count what they did in PassStats ("Attention: 12") for
// `kiln optimize` and the logs. The PassManager runs an ordered list of passes for an
// optimization level (0 none, 1 basic, 2 extended, 99 all, the ONNX Runtime meanings) and,
// when asked (always in debug builds), verifies the IR after each pass and names the pass that
// broke it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "graph/ir/graph.h"
#include "runtime/core/status.h"

namespace kiln::passes {

// What the passes did: counter name -> count, e.g. {"Attention", 12}, {"constant_folded", 40}.
struct PassStats {
  std::map<std::string, int64_t> counts;
  void add(const std::string& what, int64_t n = 1) { counts[what] += n; }
  int64_t get(const std::string& what) const {
    auto it = counts.find(what);
    return it == counts.end() ? 0 : it->second;
  }
  // "Attention: 12, SkipLayerNormalization: 24" (sorted by name; "" when empty).
  std::string to_string() const;
};

struct PassContext {
  int level = 1;
  // The backend the graph will run on ("cpu", "opencl", "vulkan"): level-99 passes may fuse
  // differently per backend. Passes at levels 1 and 2 must not depend on it.
  std::string target = "cpu";
  // True when the graph only runs inside a kiln Session and is never written out: passes may
  // then write kiln-internal ops (ai.kiln FusedElementwise) that other runtimes cannot load.
  bool session_only_ops = false;
  PassStats stats;
};

class Pass {
 public:
  virtual ~Pass() = default;
  // A stable name for logs and --verbose ("constant_folding", "attention_fusion").
  virtual std::string name() const = 0;
  // Rewrites `g`; returns true when it changed anything. An error names the node concerned.
  // On error the graph may be partly rewritten but must still verify().
  virtual Expected<bool> run(ir::Graph& g, PassContext& ctx) = 0;
};

// A local rewrite rule, after ONNX Runtime's RewriteRule: `apply` is called for nodes whose
// (domain, op_type) is in target_ops(); it returns true when it rewrote the graph around `node`
// (node may then have been removed). It must leave the graph valid (the node list need not be
// in topological order: PatternPass re-sorts it).
class RewritePattern {
 public:
  virtual ~RewritePattern() = default;
  virtual std::string name() const = 0;
  // Op types this rule starts from, in the default ONNX domain unless written "domain:Op".
  virtual std::vector<std::string> target_ops() const = 0;
  virtual Expected<bool> apply(ir::Graph& g, ir::Node* node, PassContext& ctx) = 0;
};

// Applies patterns in rounds over the node list until a round changes nothing (at most
// `max_rounds`), then removes nodes whose outputs nobody uses and topologically sorts.
class PatternPass : public Pass {
 public:
  PatternPass(std::string name, std::vector<std::unique_ptr<RewritePattern>> patterns,
              int max_rounds = 10);
  std::string name() const override { return name_; }
  Expected<bool> run(ir::Graph& g, PassContext& ctx) override;

 private:
  std::string name_;
  std::vector<std::unique_ptr<RewritePattern>> patterns_;
  int max_rounds_;
};

struct PassManagerOptions {
  bool verify_each = false;  // verify() after every pass (forced on in debug builds)
  bool dump_each = false;    // log the IR after every pass that changed it (debug level)
};

class PassManager {
 public:
  explicit PassManager(PassManagerOptions options = {});
  void add(std::unique_ptr<Pass> pass);
  const std::vector<std::unique_ptr<Pass>>& passes() const { return passes_; }

  // Runs every pass in order once. Stops at the first error, naming the pass.
  Status run(ir::Graph& g, PassContext& ctx) const;

  // The standard pipeline for a level: 0 nothing, 1 basic, 2 basic + extended, 99 all. Any other
  // level is an invalid-argument error.
  static Expected<PassManager> for_level(int level, PassManagerOptions options = {});

 private:
  PassManagerOptions options_;
  std::vector<std::unique_ptr<Pass>> passes_;
};

// The passes of each level, in order, one explicit function per level (defined beside them).
void add_basic_passes(PassManager& pm);     // level 1
void add_extended_passes(PassManager& pm);  // level 2
void add_all_passes(PassManager& pm);       // level 99 extras

// Convenience: runs the standard pipeline for ctx.level on g.
Status optimize(ir::Graph& g, PassContext& ctx, PassManagerOptions options = {});

}  // namespace kiln::passes
