#include "runtime/core/tensor.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

namespace kiln {

namespace {

size_t physical_memory_bytes() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return size_t{64} << 30;
  return static_cast<size_t>(pages) * static_cast<size_t>(page);
}

std::atomic<size_t>& max_bytes_ref() {
  static std::atomic<size_t> v{physical_memory_bytes()};
  return v;
}

}  // namespace

size_t max_tensor_bytes() {
  return max_bytes_ref().load();
}
void set_max_tensor_bytes(size_t bytes) {
  max_bytes_ref().store(bytes);
}

std::string shape_to_string(const Shape& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

Expected<int64_t> checked_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return invalid_argument("negative dimension in shape " + shape_to_string(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      return out_of_memory("element count of shape " + shape_to_string(shape) + " overflows");
    n *= d;
  }
  return n;
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Expected<Tensor> Tensor::create(DType dtype, const Shape& shape) {
  if (!is_storable(dtype))
    return unsupported(std::string("tensors of dtype ") + dtype_name(dtype) + " are not supported");
  KILN_ASSIGN_OR_RETURN(int64_t n, checked_numel(shape));
  size_t es = dtype_size(dtype);
  if (static_cast<uint64_t>(n) > max_tensor_bytes() / es) {
    return out_of_memory("a tensor of shape " + shape_to_string(shape) + " and dtype " +
                         dtype_name(dtype) + " needs more memory than the limit of " +
                         std::to_string(max_tensor_bytes() >> 20) + " MiB");
  }
  size_t bytes = static_cast<size_t>(n) * es;
  size_t alloc = (bytes + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  void* p = std::aligned_alloc(64, alloc);
  if (!p) return out_of_memory("failed to allocate " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, alloc);
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.numel_ = n;
  t.storage_ = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
  return t;
}

Tensor Tensor::wrap(DType dtype, const Shape& shape, std::shared_ptr<uint8_t> storage,
                    size_t offset) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.numel_ = numel_of(shape);
  t.storage_ = std::move(storage);
  t.offset_ = offset;
  return t;
}

Tensor Tensor::reshaped(const Shape& shape) const {
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  Tensor t = create(dtype_, shape_).value();
  if (nbytes()) std::memcpy(t.raw_data(), raw_data(), nbytes());
  return t;
}

double Tensor::get_as_double(int64_t i) const {
  double r = 0;
  visit_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    r = static_cast<double>(
        static_cast<
            std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>>(
            data<T>()[i]));
  });
  return r;
}

void Tensor::set_from_double(int64_t i, double v) {
  visit_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
      data<T>()[i] = T(static_cast<float>(v));
    } else {
      data<T>()[i] = static_cast<T>(v);
    }
  });
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> out(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) {
    switch (dtype_) {
      case DType::kInt64:
        out[i] = data<int64_t>()[i];
        break;
      case DType::kInt32:
        out[i] = data<int32_t>()[i];
        break;
      case DType::kUInt64:
        out[i] = static_cast<int64_t>(data<uint64_t>()[i]);
        break;
      default:
        out[i] = static_cast<int64_t>(get_as_double(i));
        break;
    }
  }
  return out;
}

}  // namespace kiln
