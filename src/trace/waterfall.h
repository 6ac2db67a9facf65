// The terminal rendering of a trace: one row per phase with a bar placed on a common time
// axis, the server's own phases nested under time to first byte.
#pragma once

#include <string>

#include "trace/request_trace.h"

namespace hop::trace {

struct WaterfallStyle {
  bool color = false;  // ANSI colours and block bars (a TTY); plain ASCII otherwise
  int bar_width = 40;
};

std::string render_waterfall(const RequestTrace& t, const WaterfallStyle& style);
// The per-request table of -n, printed a row at a time as requests finish.
std::string render_table_header();
std::string render_table_row(const RequestTrace& t, const WaterfallStyle& style);

// What -n adds up to: setup cost, paid how many times, and ttfb spread. Holds counters, not
// traces, so a long run uses constant memory.
class RunSummary {
 public:
  void add(const RequestTrace& t);
  std::string render() const;

 private:
  size_t requests_ = 0, ok_ = 0, attempts_ = 0, connections_ = 0, resumed_ = 0, answered_ = 0;
  double setup_ms_ = 0, ttfb_min_ = 0, ttfb_max_ = 0, ttfb_sum_ = 0, total_sum_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace hop::trace
