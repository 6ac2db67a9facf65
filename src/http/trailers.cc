#include "http/trailers.h"

#include "http/h1_parser.h"

namespace hop::http {

Trailers forwardable_trailers(std::string_view block, bool lowercase) {
  Trailers out;
  if (block.empty()) return out;
  HeaderList fields;
  ParseError err;
  if (!parse_field_lines(block, H1Limits{}, fields, err)) return out;
  for (const auto& f : fields) {
    if (is_connection_specific(f.name) || iequals(f.name, "content-length")) continue;  // framing stays with the body
    std::string name;
    if (lowercase) append_lowercase(name, f.name);
    else name = f.name;
    out.emplace_back(std::move(name), std::string(f.value));
  }
  return out;
}

}  // namespace hop::http
