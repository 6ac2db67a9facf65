#include "core/alloc_stats.h"

namespace hop::core {

// Weak defaults; src/core/alloc_counter/alloc_counter.cc (linked only into the counting
// build) overrides them along with operator new.
__attribute__((weak)) bool heap_allocations_counted() { return false; }
__attribute__((weak)) uint64_t heap_allocations() { return 0; }

}  // namespace hop::core
