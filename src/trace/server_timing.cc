#include "trace/server_timing.h"

#include <cstdlib>

#include "trace/http_tokens.h"

namespace hop::trace {

namespace {

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  void advance() { ++i_; }
  void skip_ows() {
    while (!done() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  std::string_view token() {
    size_t start = i_;
    while (!done() && is_tchar(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  // RFC 9110 §5.6.4 quoted-string with quoted-pair; false when unterminated.
  bool quoted(std::string& out) {
    advance();  // opening quote
    while (!done()) {
      char c = s_[i_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (done()) return false;
        c = s_[i_++];
      }
      out.push_back(c);
    }
    return false;
  }
  // Skips to just past the next top-level comma, honouring quoted strings.
  void skip_metric() {
    bool in_quote = false;
    while (!done()) {
      char c = s_[i_++];
      if (in_quote) {
        if (c == '\\' && !done()) ++i_;
        else if (c == '"') in_quote = false;
      } else if (c == '"') {
        in_quote = true;
      } else if (c == ',') {
        return;
      }
    }
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

std::optional<double> parse_dur(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !(value >= 0) || value > 1e12) return std::nullopt;
  return value;
}

// Parses one metric's parameters; false when the metric is malformed.
bool parse_params(Cursor& c, ServerTimingEntry& entry) {
  bool have_dur = false, have_desc = false;
  while (true) {
    c.skip_ows();
    if (c.done() || c.peek() == ',') return true;
    if (c.peek() != ';') return false;
    c.advance();
    c.skip_ows();
    std::string_view name = c.token();
    if (name.empty()) return false;
    c.skip_ows();
    std::string value;
    if (c.peek() == '=') {
      c.advance();
      c.skip_ows();
      if (c.peek() == '"') {
        if (!c.quoted(value)) return false;
      } else {
        value = std::string(c.token());
      }
    }
    if (iequals(name, "dur") && !have_dur) {
      have_dur = true;
      entry.dur = parse_dur(value);
    } else if (iequals(name, "desc") && !have_desc) {
      have_desc = true;
      entry.desc = std::move(value);
    }
  }
}

}  // namespace

void parse_server_timing(std::string_view value, std::vector<ServerTimingEntry>& out) {
  Cursor c(value);
  while (!c.done() && out.size() < kMaxServerTimingEntries) {
    c.skip_ows();
    if (c.peek() == ',') {
      c.advance();
      continue;
    }
    ServerTimingEntry entry;
    entry.name = std::string(c.token());
    bool ok = !entry.name.empty() && parse_params(c, entry);
    if (ok) {
      out.push_back(std::move(entry));
      if (c.peek() == ',') c.advance();
    } else {
      c.skip_metric();
    }
  }
}

}  // namespace hop::trace
