// Packed constant weights (see packed_weights.h).
#include "runtime/cpu/ops/packed_weights.h"

#include <list>
#include <mutex>

namespace kiln::cpu {

namespace {

// Packed copies of constant weight matrices (initializers), keyed by the weight's data pointer,
// geometry and instruction set. Each entry keeps a reference to the weight's storage, so the
// pointer cannot be reused by another tensor while the entry lives; the least recently used
// entries go past the byte cap. (A per-node prepared-state slot owned by the executor would free
// them with the session; see the fast-GEMM notes.)
template <typename Key, typename Packed>
class PackedCache {
 public:
  explicit PackedCache(size_t cap_bytes) : cap_(cap_bytes) {}

  template <typename PackFn>
  std::shared_ptr<const Packed> find_or_pack(const Key& key, const Tensor& w, PackFn pack) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->key == key) {
          entries_.splice(entries_.begin(), entries_, it);
          return entries_.front().packed;
        }
      }
    }
    std::shared_ptr<const Packed> packed = pack();
    if (!packed || packed->bytes() > cap_) return packed;
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_front(Entry{key, w, packed});
    bytes_ += packed->bytes();
    while (bytes_ > cap_ && entries_.size() > 1) {
      bytes_ -= entries_.back().packed->bytes();
      entries_.pop_back();
    }
    return packed;
  }

 private:
  struct Entry {
    Key key;
    Tensor keep;  // holds the weight's storage alive
    std::shared_ptr<const Packed> packed;
  };
  const size_t cap_;
  std::mutex mu_;
  std::list<Entry> entries_;
  size_t bytes_ = 0;
};

struct FloatKey {
  const void* data;
  int64_t K, N, b_rs, b_cs;
  fast::SgemmIsa isa;
  bool operator==(const FloatKey&) const = default;
};

struct QuantKey {
  const void* data;
  int64_t K, N;
  DType dtype;
  bool trans_b;
  fast::QgemmIsa isa;
  bool operator==(const QuantKey&) const = default;
};

// The initializer behind input `index` when the kernel sees the initializer's own storage.
const Tensor* initializer_input(const OpContext& ctx, size_t index) {
  const ir::Value* v = ctx.node().input(index);
  if (!v || !v->is_initializer() || !ctx.has_input(index)) return nullptr;
  const Tensor& t = ctx.input(index);
  return v->initializer().raw_data() == t.raw_data() ? &t : nullptr;
}

}  // namespace

std::shared_ptr<const fast::PackedB> constant_packed_b(const OpContext& ctx, size_t index,
                                                       int64_t K, int64_t N, int64_t b_rs,
                                                       int64_t b_cs) {
  static auto* cache = new PackedCache<FloatKey, fast::PackedB>(size_t{768} << 20);  // never freed
  const Tensor* t = initializer_input(ctx, index);
  if (!t || t->dtype() != DType::kFloat32) return nullptr;
  const FloatKey key{t->raw_data(), K, N, b_rs, b_cs, fast::sgemm_best_isa()};
  return cache->find_or_pack(
      key, *t, [&] { return fast::prepack_b(K, N, t->data<float>(), b_rs, b_cs, key.isa); });
}

std::shared_ptr<const fast::PackedQB> constant_packed_qb(const OpContext& ctx, size_t index,
                                                         int64_t K, int64_t N, bool trans_b) {
  static auto* cache = new PackedCache<QuantKey, fast::PackedQB>(size_t{512} << 20);  // never freed
  const Tensor* t = initializer_input(ctx, index);
  if (!t || (t->dtype() != DType::kInt8 && t->dtype() != DType::kUInt8) || t->numel() != K * N)
    return nullptr;
  const QuantKey key{t->raw_data(), K, N, t->dtype(), trans_b, fast::qgemm_best_isa()};
  return cache->find_or_pack(key, *t, [&] {
    fast::QOperand b;
    b.data = t->raw_data();
    b.is_signed = t->dtype() == DType::kInt8;
    b.rs = trans_b ? 1 : N;
    b.cs = trans_b ? K : 1;
    return fast::qgemm_prepack_b(K, N, b, key.isa);
  });
}

}  // namespace kiln::cpu
