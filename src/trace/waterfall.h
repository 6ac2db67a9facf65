// The terminal rendering of a trace: one row per phase with a bar placed on a common time
// axis, the server's own phases nested under time to first byte.
#pragma once

#include <string>
#include <vector>

#include "trace/request_trace.h"

namespace hop::trace {

struct WaterfallStyle {
  bool color = false;  // ANSI colours and block bars (a TTY); plain ASCII otherwise
  int bar_width = 40;
};

std::string render_waterfall(const RequestTrace& t, const WaterfallStyle& style);
// One line per request of -n and the summary: what the setup cost, paid how many times.
std::string render_request_table(const std::vector<RequestTrace>& traces, const WaterfallStyle& style);
std::string render_summary(const std::vector<RequestTrace>& traces);

}  // namespace hop::trace
