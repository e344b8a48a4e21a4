// Helpers shared by the CPU shape kernels (runtime/cpu/ops/shape*.cpp): reading and validating
// shape-like inputs, checked arithmetic, and dtype-agnostic byte copies (these kernels move
// elements as raw bytes of the element size, so every storable dtype works).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cpu/kernel.h"

namespace kiln::cpu::shape_ops {

// Reads input i as a list of integers. Accepts int64 (and int32 when allow_int32), rank 1 (and
// rank 0 when allow_scalar). The error names the node and `what`.
Expected<std::vector<int64_t>> read_int_list(const OpContext& ctx, size_t i,
                                             const std::string& what, bool allow_int32 = false,
                                             bool allow_scalar = false);
// Reads input i as one integer (a scalar or a one-element tensor of int32/int64).
Expected<int64_t> read_int_scalar(const OpContext& ctx, size_t i, const std::string& what);

// Maps a possibly negative axis into [0, rank); the error names the node.
Expected<int64_t> norm_axis(const OpContext& ctx, int64_t axis, int64_t rank,
                            const std::string& what);
// Normalizes every axis and rejects duplicates.
Expected<std::vector<int64_t>> norm_axes(const OpContext& ctx, const std::vector<int64_t>& axes,
                                         int64_t rank, const std::string& what);

// a * b into *out; false on overflow.
inline bool checked_mul(int64_t a, int64_t b, int64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool checked_add(int64_t a, int64_t b, int64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

// Copies n contiguous elements of es bytes.
void copy_elems(void* dst, const void* src, size_t es, int64_t n);

// dst[i] = src[base + sum_d idx_d * strides[d]] for every index i of out_shape in row-major
// order (strides in elements; may be zero or negative). The caller guarantees every source
// offset is in bounds.
void strided_copy(const OpContext& ctx, void* dst, const void* src, size_t es,
                  const Shape& out_shape, const std::vector<int64_t>& strides, int64_t base);

// Element pointers.
inline uint8_t* at(Tensor& t, int64_t i) {
  return static_cast<uint8_t*>(t.raw_data()) + i * static_cast<int64_t>(dtype_size(t.dtype()));
}
inline const uint8_t* at(const Tensor& t, int64_t i) {
  return static_cast<const uint8_t*>(t.raw_data()) +
         i * static_cast<int64_t>(dtype_size(t.dtype()));
}

// Registration of the other shape kernel files (called by register_shape_kernels).
void register_shape_index_kernels(KernelRegistry& r);   // shape_index.cpp
void register_shape_layout_kernels(KernelRegistry& r);  // shape_layout.cpp
void register_shape_gen_kernels(KernelRegistry& r);     // shape_gen.cpp

}  // namespace kiln::cpu::shape_ops
