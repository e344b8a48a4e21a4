#include "runtime/core/tensor.h"

#include "runtime/core/tensor_uninit.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

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

// Reuse of tensor storage. Every kernel allocates its outputs afresh on every run, and the large
// ones (activations of a Transformer layer: 0.4-1.5 MB each at BERT-base, seq 128) went to the
// system allocator, which maps fresh pages for them: a page fault and the kernel's page zeroing
// per 4 KiB on every run. Freed blocks of 16 KiB and more now go to a free list per size class
// (classes 1/8 of a power of two apart, so at most 12.5% is wasted) and are handed out again;
// the pool keeps at most kPoolCap bytes of free blocks and frees the rest. Contents are
// still zero-filled by create(), so no kernel sees another's bytes. Sanitizer builds bypass the
// pool so that use-after-free stays visible to AddressSanitizer; KILN_TENSOR_POOL=0 turns it off.
#if defined(__SANITIZE_ADDRESS__)
#define KILN_POOL_DEFAULT_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_POOL_DEFAULT_ON 0
#endif
#endif
#ifndef KILN_POOL_DEFAULT_ON
#define KILN_POOL_DEFAULT_ON 1
#endif

class StoragePool {
 public:
  static constexpr size_t kMinPooled = size_t{16} << 10;
  static constexpr size_t kPoolCap = size_t{512} << 20;

  static StoragePool& get() {
    // Never destroyed: tensors in static objects may be freed after main returns.
    static StoragePool* pool = new StoragePool();
    return *pool;
  }

  bool enabled() const { return enabled_; }

  // The size class of an allocation of `bytes` (>= kMinPooled): rounded up to 1/8 steps
  // between powers of two.
  static size_t size_class(size_t bytes) {
    size_t p = 1;
    while (p * 2 <= bytes) p *= 2;  // largest power of two <= bytes
    const size_t step = p / 8;
    return (bytes + step - 1) / step * step;
  }

  void* take(size_t cls) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(cls);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    free_bytes_ -= cls;
    return p;
  }

  void give(void* p, size_t cls) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (free_bytes_ + cls <= kPoolCap) {
        free_[cls].push_back(p);
        free_bytes_ += cls;
        return;
      }
    }
    std::free(p);
  }

 private:
  StoragePool() {
    const char* env = std::getenv("KILN_TENSOR_POOL");
    enabled_ = KILN_POOL_DEFAULT_ON && !(env && std::string(env) == "0");
  }

  bool enabled_ = true;
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t free_bytes_ = 0;
};

#if KILN_POOL_DEFAULT_ON
constexpr int kUninitFill = -1;  // no fill
#else
constexpr int kUninitFill = 0xFF;  // sanitizer builds: NaN / -1 everywhere
#endif

// 64-byte aligned storage of at least `bytes` bytes, filled with `fill` (-1: left as it is).
std::shared_ptr<uint8_t> allocate_storage(size_t bytes, int fill = 0) {
  size_t alloc = (bytes + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  StoragePool& pool = StoragePool::get();
  if (pool.enabled() && alloc >= StoragePool::kMinPooled) {
    const size_t cls = StoragePool::size_class(alloc);
    void* p = pool.take(cls);
    if (!p) p = std::aligned_alloc(64, cls);
    if (!p) return nullptr;
    if (fill >= 0) std::memset(p, fill, alloc);
    return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p),
                                    [cls](uint8_t* q) { StoragePool::get().give(q, cls); });
  }
  void* p = std::aligned_alloc(64, alloc);
  if (!p) return nullptr;
  if (fill >= 0) std::memset(p, fill, alloc);
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
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

Expected<Tensor> create_uninitialized(DType dtype, const Shape& shape) {
  // Tensor::create's checks; zero-filling a small tensor costs nothing worth skipping.
  KILN_ASSIGN_OR_RETURN(int64_t n, checked_numel(shape));
  const size_t bytes = is_storable(dtype) ? static_cast<size_t>(n) * dtype_size(dtype) : 0;
  if (bytes < StoragePool::kMinPooled || static_cast<uint64_t>(n) > max_tensor_bytes() / 8)
    return Tensor::create(dtype, shape);
  std::shared_ptr<uint8_t> storage = allocate_storage(bytes, kUninitFill);
  if (!storage) return out_of_memory("failed to allocate " + std::to_string(bytes) + " bytes");
  return Tensor::wrap(dtype, shape, std::move(storage), 0);
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
  std::shared_ptr<uint8_t> storage = allocate_storage(bytes);
  if (!storage) return out_of_memory("failed to allocate " + std::to_string(bytes) + " bytes");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.numel_ = n;
  t.storage_ = std::move(storage);
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
