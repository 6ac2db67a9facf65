#include "trace/url.h"

#include <charconv>

#include "trace/http_tokens.h"

namespace hop::trace {

std::string Url::authority() const {
  // Built by append: GCC 12 warns falsely (-Wrestrict, bug 105329) on "[" + std::string.
  std::string out;
  bool v6 = host.find(':') != std::string::npos;
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  if (port != (tls ? 443 : 80)) {
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

namespace {

// Control characters and spaces in a request target would let a URL smuggle a second
// request line or header into what we send (request splitting).
bool has_unsafe_bytes(std::string_view s) {
  for (unsigned char c : s)
    if (c <= 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

std::optional<Url> parse_url(std::string_view text, std::string& error) {
  Url url;
  auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    error = "URL needs a scheme (http:// or https://)";
    return std::nullopt;
  }
  auto scheme = text.substr(0, scheme_end);
  if (iequals(scheme, "https")) {
    url.tls = true;
  } else if (!iequals(scheme, "http")) {
    error = "unsupported scheme '" + std::string(scheme) + "' (http or https)";
    return std::nullopt;
  }
  auto rest = text.substr(scheme_end + 3);
  auto auth_end = rest.find_first_of("/?#");
  auto authority = rest.substr(0, auth_end);
  auto target = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
  if (auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  if (authority.find('@') != std::string_view::npos) {
    error = "credentials in the URL are not supported";
    return std::nullopt;
  }

  std::string_view host = authority;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated IPv6 address in URL";
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "unexpected characters after IPv6 address";
        return std::nullopt;
      }
      port_text = after.substr(1);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  if (host.empty()) {
    error = "URL has no host";
    return std::nullopt;
  }
  if (has_unsafe_bytes(host) || has_unsafe_bytes(target)) {
    error = "URL contains spaces or control characters";
    return std::nullopt;
  }
  url.host = std::string(host);
  url.port = url.tls ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      error = "invalid port '" + std::string(port_text) + "'";
      return std::nullopt;
    }
    url.port = static_cast<uint16_t>(value);
  }
  if (target.empty() || target.front() == '?') url.target.push_back('/');
  url.target.append(target.begin(), target.end());
  return url;
}

}  // namespace hop::trace
