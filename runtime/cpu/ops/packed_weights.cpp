// Packed constant weights (see packed_weights.h).
#include "runtime/cpu/ops/packed_weights.h"

#include <list>
#include <mutex>

namespace kiln::cpu {

namespace {

// Packed copies of constant weight matrices (initializers), keyed by the weight's data pointer and
// geometry. Each entry keeps a reference to the weight's storage, so the pointer cannot be reused
// by another tensor while the entry lives; the least recently used entries go past kCacheBytes.
// (A per-node prepared-state slot owned by the executor would free them with the session; see
// the fast-GEMM notes.)
class PackedWeightCache {
 public:
  static PackedWeightCache& get() {
    static PackedWeightCache* cache = new PackedWeightCache();  // never destroyed (exit order)
    return *cache;
  }

  std::shared_ptr<const fast::PackedB> find_or_pack(const Tensor& w, int64_t K, int64_t N,
                                                    int64_t b_rs, int64_t b_cs) {
    const Key key{w.raw_data(), K, N, b_rs, b_cs, fast::sgemm_best_isa()};
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->key == key) {
          entries_.splice(entries_.begin(), entries_, it);
          return entries_.front().packed;
        }
      }
    }
    std::shared_ptr<const fast::PackedB> packed =
        fast::prepack_b(K, N, w.data<float>(), b_rs, b_cs, key.isa);
    if (!packed || packed->bytes() > kCacheBytes) return packed;
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_front(Entry{key, w, packed});
    bytes_ += packed->bytes();
    while (bytes_ > kCacheBytes && entries_.size() > 1) {
      bytes_ -= entries_.back().packed->bytes();
      entries_.pop_back();
    }
    return packed;
  }

 private:
  static constexpr size_t kCacheBytes = size_t{768} << 20;
  struct Key {
    const void* data;
    int64_t K, N, b_rs, b_cs;
    fast::SgemmIsa isa;
    bool operator==(const Key&) const = default;
  };
  struct Entry {
    Key key;
    Tensor keep;  // holds the weight's storage alive
    std::shared_ptr<const fast::PackedB> packed;
  };
  std::mutex mu_;
  std::list<Entry> entries_;
  size_t bytes_ = 0;
};

}  // namespace

std::shared_ptr<const fast::PackedB> constant_packed_b(const OpContext& ctx, size_t index,
                                                       int64_t K, int64_t N, int64_t b_rs,
                                                       int64_t b_cs) {
  const ir::Value* v = ctx.node().input(index);
  if (!v || !v->is_initializer()) return nullptr;
  const Tensor& t = ctx.input(index);
  if (v->initializer().raw_data() != t.raw_data() || t.dtype() != DType::kFloat32) return nullptr;
  return PackedWeightCache::get().find_or_pack(t, K, N, b_rs, b_cs);
}

}  // namespace kiln::cpu
