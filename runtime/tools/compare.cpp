// Tensor comparison metrics for `kiln compare`. See compare.h.
#include "runtime/tools/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <type_traits>

namespace kiln::tools {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string shape_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Index of the first maximum of row `r` (length n), NaN counting as the maximum.
int64_t row_argmax(const Tensor& t, int64_t r, int64_t n) {
  int64_t best = 0;
  double best_v = t.get_as_double(r * n);
  if (std::isnan(best_v)) return 0;
  for (int64_t k = 1; k < n; ++k) {
    double v = t.get_as_double(r * n + k);
    if (std::isnan(v)) return k;
    if (v > best_v) best_v = v, best = k;
  }
  return best;
}

// Exact equality of element i of two tensors of the same dtype (NaN equals NaN).
bool same_value(const Tensor& a, const Tensor& b, int64_t i) {
  bool eq = false;
  visit_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      eq = a.data<T>()[i] == b.data<T>()[i];
    } else {
      double x = a.get_as_double(i), y = b.get_as_double(i);
      eq = x == y || (std::isnan(x) && std::isnan(y));
    }
  });
  return eq;
}

}  // namespace

double cosine_similarity(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) return kNaN;
  double dot = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.get_as_double(i), y = b.get_as_double(i);
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na == 0 && nb == 0) return 1.0;
  if (na == 0 || nb == 0) return 0.0;
  double c = dot / (std::sqrt(na) * std::sqrt(nb));
  if (!std::isfinite(c)) {
    // Squares overflowed: scale by the largest magnitude and try again.
    double m = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      double x = a.get_as_double(i), y = b.get_as_double(i);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      m = std::max({m, std::fabs(x), std::fabs(y)});
    }
    dot = na = nb = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      double x = a.get_as_double(i), y = b.get_as_double(i);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x /= m, y /= m;
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    c = dot / (std::sqrt(na) * std::sqrt(nb));
  }
  return std::max(-1.0, std::min(1.0, c));
}

double argmax_agreement(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return kNaN;
  const int64_t n = a.rank() == 0 ? 1 : a.dim(-1);
  if (n <= 0 || a.numel() == 0) return kNaN;
  const int64_t rows = a.numel() / n;
  int64_t same = 0;
  for (int64_t r = 0; r < rows; ++r) same += row_argmax(a, r, n) == row_argmax(b, r, n) ? 1 : 0;
  return static_cast<double>(same) / static_cast<double>(rows);
}

TensorDiff diff_tensors(const Tensor& actual, const Tensor& reference, double atol, double rtol) {
  TensorDiff d;
  d.is_float = is_float(reference.dtype());
  d.cosine = d.argmax_agreement = kNaN;
  d.count = reference.numel();
  if (actual.dtype() != reference.dtype()) {
    d.ok = d.comparable = false;
    d.max_abs = d.max_rel = kInf;
    d.message = std::string("dtype ") + dtype_name(actual.dtype()) + ", reference " +
                dtype_name(reference.dtype());
    return d;
  }
  if (actual.shape() != reference.shape()) {
    d.ok = d.comparable = false;
    d.max_abs = d.max_rel = kInf;
    d.message =
        "shape " + shape_string(actual.shape()) + ", reference " + shape_string(reference.shape());
    return d;
  }
  for (int64_t i = 0; i < d.count; ++i) {
    const bool eq = same_value(actual, reference, i);
    if (eq) ++d.equal;
    double a = actual.get_as_double(i), e = reference.get_as_double(i);
    bool within;
    if (eq) {
      within = true;
    } else if (!d.is_float) {
      within = false;
      double diff = std::fabs(a - e);
      d.max_abs = std::max(d.max_abs, diff);
      if (e != 0) d.max_rel = std::max(d.max_rel, diff / std::fabs(e));
    } else if (!std::isfinite(a) || !std::isfinite(e)) {
      within = false;  // a NaN or an Inf on one side, or Infs of opposite signs
      d.max_abs = d.max_rel = kInf;
    } else {
      double diff = std::fabs(a - e);
      d.max_abs = std::max(d.max_abs, diff);
      if (e != 0) d.max_rel = std::max(d.max_rel, diff / std::fabs(e));
      within = diff <= atol + rtol * std::fabs(e);
    }
    if (!within) {
      ++d.mismatches;
      if (d.first_mismatch < 0) d.first_mismatch = i;
    }
  }
  if (d.is_float) {
    d.cosine = cosine_similarity(actual, reference);
    d.argmax_agreement = argmax_agreement(actual, reference);
  }
  if (d.mismatches) {
    d.ok = false;
    std::ostringstream os;
    os.precision(9);
    os << d.mismatches << " of " << d.count << " values "
       << (d.is_float ? "outside the tolerance" : "differ") << "; first at index "
       << d.first_mismatch << ": " << actual.get_as_double(d.first_mismatch) << " vs reference "
       << reference.get_as_double(d.first_mismatch);
    d.message = os.str();
  }
  return d;
}

}  // namespace kiln::tools
