// Host tensors: a dtype, a concrete shape and a reference-counted, 64-byte aligned byte buffer.
// Copies share storage (views are free); clone() copies the bytes. Always dense, row-major.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/dtype.h"
#include "runtime/core/status.h"

namespace kiln {

using Shape = std::vector<int64_t>;

std::string shape_to_string(const Shape& shape);  // "[2, 3, 4]"
// Number of elements; an error for negative dims or when the count overflows int64.
Expected<int64_t> checked_numel(const Shape& shape);
int64_t numel_of(const Shape& shape);  // for shapes already known to be valid

// The most bytes one tensor may take (default: the machine's physical memory). Larger
// allocations fail with kOutOfMemory before touching the allocator.
size_t max_tensor_bytes();
void set_max_tensor_bytes(size_t bytes);

class Tensor {
 public:
  Tensor() = default;

  // Allocates a zero-filled tensor. Fails on negative dims, overflow, or too many bytes.
  static Expected<Tensor> create(DType dtype, const Shape& shape);
  // A tensor over existing bytes (e.g. a memory-mapped file); `storage` keeps them alive.
  // The caller guarantees that offset + numel * dtype_size bytes are readable.
  static Tensor wrap(DType dtype, const Shape& shape, std::shared_ptr<uint8_t> storage,
                     size_t offset);
  // A tensor holding one value.
  template <typename T>
  static Tensor scalar(T value) {
    Tensor t = create(dtype_of<T>(), {}).value();
    *t.data<T>() = value;
    return t;
  }
  // Copies `values` into a new tensor of the given shape (numel must match).
  template <typename T>
  static Tensor from_vector(const Shape& shape, const std::vector<T>& values);

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  void* raw_data() { return storage_.get() + offset_; }
  const void* raw_data() const { return storage_.get() + offset_; }
  template <typename T>
  T* data() {
    return reinterpret_cast<T*>(raw_data());
  }
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(raw_data());
  }

  // Same bytes seen with another shape of equal element count.
  Tensor reshaped(const Shape& shape) const;
  // A deep copy.
  Tensor clone() const;
  // Element i converted to double (any numeric dtype); for printing and tests.
  double get_as_double(int64_t i) const;
  // Sets element i from a double, converting to the tensor's dtype.
  void set_from_double(int64_t i, double v);
  // Values as int64 (for shape-like inputs of any integer dtype).
  std::vector<int64_t> to_int64_vector() const;

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<uint8_t> storage_;
  size_t offset_ = 0;
};

template <typename T>
Tensor Tensor::from_vector(const Shape& shape, const std::vector<T>& values) {
  Tensor t = create(dtype_of<T>(), shape).value();
  T* d = t.data<T>();
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t.numel(); ++i)
    d[i] = values[i];
  return t;
}

// Calls f(T{}) with T the C++ type of `dtype` (numeric types and bool). Returns false when the
// dtype is not one of them.
template <typename F>
bool visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat32:
      f(float{});
      return true;
    case DType::kFloat64:
      f(double{});
      return true;
    case DType::kFloat16:
      f(Half{});
      return true;
    case DType::kBFloat16:
      f(BFloat16{});
      return true;
    case DType::kInt8:
      f(int8_t{});
      return true;
    case DType::kUInt8:
      f(uint8_t{});
      return true;
    case DType::kInt16:
      f(int16_t{});
      return true;
    case DType::kUInt16:
      f(uint16_t{});
      return true;
    case DType::kInt32:
      f(int32_t{});
      return true;
    case DType::kUInt32:
      f(uint32_t{});
      return true;
    case DType::kInt64:
      f(int64_t{});
      return true;
    case DType::kUInt64:
      f(uint64_t{});
      return true;
    case DType::kBool:
      f(bool{});
      return true;
    default:
      return false;
  }
}

}  // namespace kiln
