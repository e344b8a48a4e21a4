// Helpers shared by the CPU reference kernels: axes, strides, numpy broadcasting, float
// promotion for half types.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"

namespace kiln::cpu {

// Maps a possibly negative axis into [0, rank); an error when out of range.
inline Expected<int64_t> normalize_axis(int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    return invalid_argument(what + " " + std::to_string(axis) + " is out of range for rank " +
                            std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

// Row-major strides in elements.
inline std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

// Numpy-style multidirectional broadcast of several shapes.
inline Expected<Shape> broadcast_shapes(const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const auto& s : shapes) {
    size_t off = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t d = s[i], &o = out[off + i];
      if (d == o || d == 1) continue;
      if (o == 1) {
        o = d;
        continue;
      }
      std::string msg = "shapes cannot be broadcast together:";
      for (const auto& t : shapes) {
        msg += ' ';  // (not " " + ...: GCC 12 reports a false -Wrestrict on that)
        msg += shape_to_string(t);
      }
      return invalid_argument(msg);
    }
  }
  return out;
}

// Strides of `in` seen through a broadcast to `out` (0 on broadcast dims), aligned right.
inline std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> s(out.size(), 0);
  std::vector<int64_t> is = strides_of(in);
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) s[off + i] = in[i] == 1 ? 0 : is[i];
  return s;
}

// Walks every index of `out_shape` in row-major order, keeping the matching flat offset in
// each input (broadcast). Use: for (BroadcastIter it(...); !it.done(); it.next()) it.offset(k).
class BroadcastIter {
 public:
  BroadcastIter(const Shape& out_shape, const std::vector<Shape>& inputs)
      : shape_(out_shape), idx_(out_shape.size(), 0), off_(inputs.size(), 0) {
    for (const auto& in : inputs) strides_.push_back(broadcast_strides(in, out_shape));
    total_ = numel_of(out_shape);
  }
  bool done() const { return pos_ >= total_; }
  int64_t pos() const { return pos_; }
  int64_t offset(size_t input) const { return off_[input]; }
  void next() {
    ++pos_;
    for (int64_t d = static_cast<int64_t>(shape_.size()) - 1; d >= 0; --d) {
      if (++idx_[d] < shape_[d]) {
        for (size_t k = 0; k < off_.size(); ++k) off_[k] += strides_[k][d];
        return;
      }
      for (size_t k = 0; k < off_.size(); ++k) off_[k] -= strides_[k][d] * (shape_[d] - 1);
      idx_[d] = 0;
    }
  }

 private:
  Shape shape_;
  std::vector<int64_t> idx_;
  std::vector<int64_t> off_;
  std::vector<std::vector<int64_t>> strides_;
  int64_t total_ = 0;
  int64_t pos_ = 0;
};

// The type arithmetic on T is done in: float for Half/BFloat16, T otherwise.
template <typename T>
using compute_t =
    std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;

template <typename T>
inline compute_t<T> to_compute(T v) {
  return static_cast<compute_t<T>>(v);
}
template <typename T>
inline T from_compute(compute_t<T> v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
    return T(v);
  else
    return static_cast<T>(v);
}

}  // namespace kiln::cpu
