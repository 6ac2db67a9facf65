#include "dns/zone_file.h"

#include <charconv>
#include <optional>

#include "dns/rdata_text.h"

namespace hop::dns {

namespace {

struct Line {
  std::vector<Token> tokens;
  bool owner_omitted = false;  // the line began with blank space: reuse the previous owner
  int number = 0;
};

// Splits the file into logical lines: newlines inside parentheses do not end a record.
bool lex(const std::string& text, std::vector<Line>& lines, std::string& error, int& error_line) {
  Line cur;
  int line_no = 1, depth = 0;
  bool at_line_start = true;
  cur.number = 1;
  auto end_line = [&] {
    if (!cur.tokens.empty()) lines.push_back(std::move(cur));
    cur = Line{};
    cur.number = line_no;
  };
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '\n') {
      ++line_no;
      ++i;
      if (depth == 0) {
        end_line();
        at_line_start = true;
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      if (at_line_start && depth == 0 && cur.tokens.empty()) cur.owner_omitted = true;
      at_line_start = false;
      ++i;
      continue;
    }
    at_line_start = false;
    if (c == ';') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (c == '(') { ++depth; ++i; continue; }
    if (c == ')') {
      if (--depth < 0) return error = "unbalanced ')'", error_line = line_no, false;
      ++i;
      continue;
    }
    Token t;
    if (c == '"') {
      t.quoted = true;
      for (++i;; ++i) {
        if (i >= text.size() || text[i] == '\n') return error = "unterminated quoted string", error_line = line_no, false;
        if (text[i] == '\\' && i + 1 < text.size()) t.text.push_back(text[++i]);
        else if (text[i] == '"') { ++i; break; }
        else t.text.push_back(text[i]);
      }
    } else {
      // Not strchr: it matches the terminating NUL, and a NUL byte would then never advance.
      auto delimiter = [](char ch) {
        return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == ';' || ch == '(' || ch == ')' || ch == '"';
      };
      while (i < text.size() && !delimiter(text[i])) {
        if (text[i] == '\\' && i + 1 < text.size()) t.text.push_back(text[i++]);
        t.text.push_back(text[i++]);
      }
    }
    cur.tokens.push_back(std::move(t));
  }
  if (depth != 0) return error = "unbalanced '('", error_line = line_no, false;
  end_line();
  return true;
}

// "3600", "1h", "1h30m", "2d" → seconds (BIND's TTL units).
std::optional<uint32_t> parse_ttl(const std::string& s) {
  if (s.empty() || !isdigit(uint8_t(s[0]))) return std::nullopt;
  uint64_t total = 0, cur = 0;
  bool digits = false;
  for (char c : s) {
    if (isdigit(uint8_t(c))) {
      cur = cur * 10 + uint64_t(c - '0');
      digits = true;
      if (cur > 0xFFFFFFFFull) return std::nullopt;
      continue;
    }
    uint64_t mul = 0;
    switch (c | 0x20) {
      case 's': mul = 1; break;
      case 'm': mul = 60; break;
      case 'h': mul = 3600; break;
      case 'd': mul = 86400; break;
      case 'w': mul = 604800; break;
      default: return std::nullopt;
    }
    if (!digits) return std::nullopt;
    total += cur * mul;
    cur = 0;
    digits = false;
  }
  total += cur;
  if (total > 0x7FFFFFFF) return std::nullopt;  // RFC 2181 §8: TTLs are 31-bit
  return static_cast<uint32_t>(total);
}

bool is_class(const std::string& s) {
  return s.size() == 2 && (s[0] | 0x20) == 'i' && (s[1] | 0x20) == 'n';
}

}  // namespace

bool parse_zone_text(const std::string& text, const std::string& file_name, const std::string& origin_wire,
                     uint32_t default_ttl, std::vector<ZoneFileRecord>& out, std::vector<std::string>& errors) {
  auto fail = [&](int line, const std::string& msg) {
    errors.push_back(file_name + ":" + std::to_string(line) + ": " + msg);
  };
  std::vector<Line> lines;
  std::string err;
  int err_line = 0;
  if (!lex(text, lines, err, err_line)) {
    fail(err_line, err);
    return false;
  }
  size_t errors_before = errors.size();
  std::string origin = origin_wire, owner;
  uint32_t ttl_default = default_ttl;
  for (const Line& ln : lines) {
    const auto& t = ln.tokens;
    if (t[0].text[0] == '$' && !t[0].quoted && !ln.owner_omitted) {
      if (t[0].text == "$ORIGIN" && t.size() == 2) {
        std::string next;  // not `origin` itself: the output must not alias the input
        if (text_to_name(t[1].text, origin, next, true, err)) origin = std::move(next);
        else fail(ln.number, err);
      } else if (t[0].text == "$TTL" && t.size() == 2) {
        if (auto v = parse_ttl(t[1].text)) ttl_default = *v; else fail(ln.number, "bad $TTL");
      } else {
        fail(ln.number, "unsupported directive " + t[0].text);
      }
      continue;
    }
    size_t i = 0;
    if (!ln.owner_omitted) {
      std::string o;
      if (!text_to_name(t[0].text, origin, o, true, err)) {
        fail(ln.number, err);
        continue;
      }
      owner = o;
      i = 1;
    } else if (owner.empty()) {
      fail(ln.number, "record without an owner name");
      continue;
    }
    uint32_t ttl = ttl_default;
    for (int k = 0; k < 2 && i < t.size(); ++k) {
      if (is_class(t[i].text)) ++i;
      else if (auto v = parse_ttl(t[i].text)) ttl = *v, ++i;
    }
    if (i >= t.size()) {
      fail(ln.number, "record without a type");
      continue;
    }
    auto rtype = type_from_text(t[i].text);
    if (!rtype) {
      fail(ln.number, "unknown record type '" + t[i].text + "'");
      continue;
    }
    std::vector<Token> rd(t.begin() + long(i) + 1, t.end());
    ZoneFileRecord r;
    r.owner = owner;
    r.type = *rtype;
    r.ttl = ttl;
    r.line = ln.number;
    if (!rdata_from_tokens(*rtype, rd, origin, r.rdata, err)) {
      fail(ln.number, err);
      continue;
    }
    out.push_back(std::move(r));
  }
  return errors.size() == errors_before;
}

}  // namespace hop::dns
