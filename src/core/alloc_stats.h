// Heap allocation counting, for the test build that proves the request path does not
// allocate in steady state (cmake -DHOP_COUNT_ALLOCS=ON). In normal builds the counter is
// absent and heap_allocations() reports nothing.
#pragma once

#include <cstdint>

namespace hop::core {

bool heap_allocations_counted();
uint64_t heap_allocations();

}  // namespace hop::core
