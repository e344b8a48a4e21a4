// See weight_alloc.h.
#include "runtime/cpu/fast/weight_alloc.h"

#include <cstdlib>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace kiln::cpu::fast {

void* alloc_weights(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  constexpr size_t kHugeFrom = size_t{1} << 20;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  static const bool huge = [] {
    const char* v = std::getenv("KILN_HUGE_WEIGHTS");
    return !(v && v[0] == '0');
  }();
  if (huge && bytes >= kHugeFrom) {
    const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
    void* p = std::aligned_alloc(kHuge, rounded);
    // Advice only: without transparent huge pages the block simply keeps 4 KiB pages.
    if (p) (void)madvise(p, rounded, MADV_HUGEPAGE);
    return p;
  }
#else
  (void)kHuge;
  (void)kHugeFrom;
#endif
  const size_t rounded = (bytes + 63) / 64 * 64;
  return std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
}

}  // namespace kiln::cpu::fast
