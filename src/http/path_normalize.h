// RFC 3986 §6.2.2 normalization of an origin-form path, done before routing and kept for
// forwarding, so the router and the upstream cannot disagree about which resource a
// request names: "/public/../admin", "/%61dmin" and "//admin" are all "/admin" to both.
#pragma once

#include <string>
#include <string_view>

namespace hop::http {

enum class PathNormalization { kUnchanged, kChanged, kInvalid };

// `path` is the path of an origin-form target (no query). Percent-encoded unreserved
// characters are decoded (%41 → A, %2E → .), other escapes get upper-case hex digits,
// runs of '/' are merged, and "." and ".." segments are removed (RFC 3986 §5.2.4; ".."
// never climbs above the root). kUnchanged: `path` is already normal (`out` may have been
// written; most paths cost one scan and no copy). kChanged: the normal form is in `out`. kInvalid: a '%' not followed by two hex digits (the request is a 400).
// `scratch` holds the decoded form between the two steps; both strings keep their capacity
// across calls, so a connection normalizes without allocating once warm.
PathNormalization normalize_path(std::string_view path, std::string& out, std::string& scratch);

}  // namespace hop::http
