// Trailer fields from an HTTP/1.1 chunked body, made fit to forward: every line validated
// like a header field, and fields that must not travel as trailers dropped.
#pragma once

#include <string_view>

#include "http/stream.h"

namespace hop::http {

// The fields of a chunked body's trailer section (ChunkedDecoder::trailer_block) that a
// proxy passes on. A malformed section yields none: the body is already out, so there is
// nothing better to do with it than leave it behind. Dropped: framing, routing and
// connection fields (RFC 9110 §6.5.1; RFC 9113 §8.2.2 for HTTP/2). lowercase: names as
// HTTP/2 requires them. At most 100 fields (the block itself is bounded by the decoder).
Trailers forwardable_trailers(std::string_view block, bool lowercase);

}  // namespace hop::http
