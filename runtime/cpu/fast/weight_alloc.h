// Storage for prepacked constant weights (PackedB, PackedQB). A model's packed weights are read
// once per run from L3 or memory, megabytes at a time: with 4 KiB pages each page costs a page
// walk once the weights outgrow the TLB (tens of MiB for MiniLM, hundreds for BERT-base), so
// blocks of 1 MiB or more are 2 MiB aligned and asked for as transparent huge pages.
#pragma once

#include <cstddef>

namespace kiln::cpu::fast {

// At least `bytes` bytes, 64-byte aligned (2 MiB aligned and madvise(MADV_HUGEPAGE)d on Linux
// from 1 MiB up, unless KILN_HUGE_WEIGHTS=0); release with std::free. Null when the allocation
// fails.
void* alloc_weights(size_t bytes);

}  // namespace kiln::cpu::fast
