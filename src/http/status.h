#pragma once

#include <string_view>

namespace hop::http {

// The registered reason phrase of a status code (RFC 9110 §15), or empty when the code has
// none we know.
std::string_view reason_phrase(int status);

}  // namespace hop::http
