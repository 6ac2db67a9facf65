// `--json`: one object per request (JSON Lines). The documented fields are a contract with
// scripts and tests: names never change meaning; new fields may be added.
#pragma once

#include <string>

#include "trace/request_trace.h"

namespace hop::trace {

std::string to_json_line(const RequestTrace& t);

}  // namespace hop::trace
