#include "http/path_normalize.h"

#include "http/h1_parser.h"

namespace hop::http {

namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// True when the path has nothing to normalize: no '%', no empty segment ("//") and no "."
// or ".." segment.
bool already_normal(std::string_view p) {
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '%') return false;
    if (c != '/' || i + 1 >= p.size()) continue;
    char n = p[i + 1];
    if (n == '/') return false;
    if (n == '.') {
      size_t k = i + 2;
      if (k < p.size() && p[k] == '.') ++k;
      if (k == p.size() || p[k] == '/') return false;
    }
  }
  return true;
}

// Percent-decoding of unreserved characters, upper-case hex for the other escapes.
bool decode_unreserved(std::string_view p, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.clear();
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '%') {
      out.push_back(p[i]);
      continue;
    }
    if (i + 2 >= p.size()) return false;  // fewer than two characters after the '%'
    int hi = hex_digit_value(p[i + 1]);
    int lo = hex_digit_value(p[i + 2]);
    if (hi < 0 || lo < 0) return false;
    auto v = static_cast<unsigned char>(hi * 16 + lo);
    if (is_unreserved(v)) {
      out.push_back(static_cast<char>(v));
    } else {
      out.push_back('%');
      out.push_back(kHex[hi]);
      out.push_back(kHex[lo]);
    }
    i += 2;
  }
  return true;
}

void ensure_trailing_slash(std::string& out) {
  if (out.empty() || out.back() != '/') out.push_back('/');
}

// remove_dot_segments (RFC 3986 §5.2.4) with runs of '/' merged, on a path that starts
// with '/'.
void remove_dot_segments(std::string_view in, std::string& out) {
  out.clear();
  size_t i = 0;
  while (i < in.size()) {
    while (i < in.size() && in[i] == '/') ++i;
    if (i == in.size()) {  // the path ends with '/'
      ensure_trailing_slash(out);
      break;
    }
    size_t j = in.find('/', i);
    if (j == std::string_view::npos) j = in.size();
    std::string_view seg = in.substr(i, j - i);
    bool last = j == in.size();
    if (seg == ".") {
      if (last) ensure_trailing_slash(out);
    } else if (seg == "..") {
      size_t k = out.rfind('/');
      out.resize(k == std::string::npos ? 0 : k);
      if (last) ensure_trailing_slash(out);
    } else {
      out.push_back('/');
      out.append(seg);
    }
    i = j;
  }
  if (out.empty()) out.push_back('/');
}

}  // namespace

PathNormalization normalize_path(std::string_view path, std::string& out, std::string& scratch) {
  if (path.empty() || path[0] != '/' || already_normal(path)) return PathNormalization::kUnchanged;
  if (!decode_unreserved(path, scratch)) return PathNormalization::kInvalid;
  remove_dot_segments(scratch, out);
  return out == path ? PathNormalization::kUnchanged : PathNormalization::kChanged;
}

}  // namespace hop::http
