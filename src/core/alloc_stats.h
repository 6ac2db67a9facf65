// Heap allocation counting, for the binary that proves the request path does not allocate
// in steady state (target hop_count_allocs). In hop itself the counter is absent and
// heap_allocations() reports nothing.
#pragma once

#include <cstdint>

namespace hop::core {

bool heap_allocations_counted();
uint64_t heap_allocations();

}  // namespace hop::core
