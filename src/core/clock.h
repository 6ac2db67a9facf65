#pragma once

#include <chrono>
#include <cstdint>

namespace hop::core {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Millis = std::chrono::milliseconds;
using Micros = std::chrono::microseconds;

// Milliseconds on the steady clock: what outlier ejection and health state compare.
inline int64_t to_ms(TimePoint t) { return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count(); }

inline double ms_between(TimePoint a, TimePoint b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace hop::core
