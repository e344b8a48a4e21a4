// Gathers the feeds of a model run the way the kiln subcommands take them: --input NAME=FILE
// (.npy or TensorProto .pb), --inputs DIR (DIR/NAME.npy or DIR/NAME.pb), and --random (seeded
// data shaped from the declared input types, symbolic dimensions from --dim NAME=VALUE).
// Shared by `kiln run` and `kiln compare` so that both read inputs identically.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/session.h"

namespace kiln::tools {

struct InputSpec {
  std::map<std::string, std::string> files;  // --input NAME=FILE
  std::string dir;                           // --inputs DIR ("" when not given)
  bool random = false;                       // --random
  uint64_t seed = 0;                         // --seed
  std::map<std::string, int64_t> dims;       // --dim NAME=VALUE
};

// Parses the repeatable --input NAME=FILE and --dim NAME=VALUE values into `spec`. Errors are
// usage errors (a malformed value, an input given twice).
Status parse_input_args(const std::vector<std::string>& input_args,
                        const std::vector<std::string>& dim_args, InputSpec* spec);

struct GatheredInputs {
  std::map<std::string, Tensor> feeds;
  std::map<std::string, std::string> sources;  // input name -> file path or "random"
  std::vector<std::string> notes;              // harmless remarks (an unused --dim)
};

// Makes a feed for every input of the session: files first (their shapes also fix symbolic
// dimensions that --dim does not give, so that random inputs sharing them agree), then random
// data. On failure `*usage_error` tells whether the user has to change the command line (a
// symbolic dimension --random needs); other failures (an unreadable file, a missing input)
// leave it false.
Expected<GatheredInputs> gather_inputs(const Session& session, const InputSpec& spec,
                                       bool* usage_error);

// The random value --random makes for graph input `in` (exposed for tests). Floats are uniform
// in [-1, 1), bools random, integers in [0, table size) when they index a Gather over a
// constant table, [0, 2) for names containing "mask", else [0, 10).
Expected<Tensor> random_input(const ir::Value& in, const std::map<std::string, int64_t>& dims,
                              uint64_t seed, bool* usage_error);

}  // namespace kiln::tools
