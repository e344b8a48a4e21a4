// Metrics for `kiln compare`: how far one run's tensor is from a reference run's tensor.
// Max absolute and relative error, cosine similarity and argmax agreement (float tensors),
// exact-equality counts (integer and bool tensors), and the verdict against a tolerance
// |actual - reference| <= atol + rtol * |reference|.
//
// NaN handling: a NaN where the reference also has NaN counts as equal; a NaN on one side only
// is a mismatch with an infinite absolute error. Infinities must match exactly. Cosine
// similarity skips positions where either side is not finite; argmax treats NaN as the
// largest value (as numpy does), so rows whose NaNs sit at the same place agree.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/core/tensor.h"

namespace kiln::tools {

struct TensorDiff {
  bool ok = true;          // same dtype and shape, every value within tolerance
  bool comparable = true;  // same dtype and shape
  bool is_float = false;   // float16, bfloat16, float32 or float64
  int64_t count = 0;       // number of values
  int64_t equal = 0;       // values exactly equal (NaN == NaN)
  int64_t mismatches = 0;  // values outside the tolerance
  int64_t first_mismatch = -1;
  double max_abs = 0, max_rel = 0;  // infinity when one side has a NaN or an Inf alone
  double cosine = 0;                // float tensors; NaN when not applicable
  double argmax_agreement = 0;      // float tensors; NaN when not applicable (no rows)
  std::string message;              // why not ok
};

// Cosine similarity of the two tensors as flat float64 vectors, over positions where both
// values are finite. 1 when both are all zero (or nothing is left), 0 when only one is.
// NaN when the value counts differ.
double cosine_similarity(const Tensor& a, const Tensor& b);

// Fraction of rows (all axes but the last) whose argmax over the last axis is the same in both
// tensors; the first maximum wins, NaN counts as the maximum. A scalar is one row of one value.
// NaN when the shapes differ or there are no rows.
double argmax_agreement(const Tensor& a, const Tensor& b);

// Everything above, comparing `actual` to `reference`. Float tensors pass when every value is
// within atol + rtol * |reference|; integer and bool tensors pass only when exactly equal.
TensorDiff diff_tensors(const Tensor& actual, const Tensor& reference, double atol, double rtol);

}  // namespace kiln::tools
