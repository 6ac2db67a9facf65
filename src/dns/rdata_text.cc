#include "dns/rdata_text.h"

#include <arpa/inet.h>

#include <charconv>

#include "dns/wire.h"

namespace hop::dns {

namespace {

struct TypeName {
  uint16_t type;
  const char* name;
};
constexpr TypeName kTypes[] = {{type::kA, "A"},     {type::kNS, "NS"},   {type::kCNAME, "CNAME"},
                               {type::kSOA, "SOA"}, {type::kPTR, "PTR"}, {type::kMX, "MX"},
                               {type::kTXT, "TXT"}, {type::kAAAA, "AAAA"}, {type::kSRV, "SRV"},
                               {type::kCAA, "CAA"}, {type::kANY, "ANY"}, {type::kOPT, "OPT"},
                               {type::kAXFR, "AXFR"}, {type::kIXFR, "IXFR"}};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(uint8_t(a[i])) != ascii_lower(uint8_t(b[i]))) return false;
  return true;
}

template <typename T>
bool parse_uint(const std::string& s, T& out) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || v > T(~T(0))) return false;
  out = static_cast<T>(v);
  return true;
}

void append16(std::string& out, uint16_t v) {
  out.push_back(char(v >> 8));
  out.push_back(char(v));
}
void append32(std::string& out, uint32_t v) {
  append16(out, uint16_t(v >> 16));
  append16(out, uint16_t(v));
}

// A <character-string> (RFC 1035 §3.3) is at most 255 bytes; longer TXT text is split into
// consecutive strings, which is how TXT carries more than 255 bytes.
void append_character_strings(std::string& out, std::string_view s) {
  do {
    size_t n = std::min<size_t>(s.size(), 255);
    out.push_back(char(n));
    out.append(s.substr(0, n));
    s.remove_prefix(n);
  } while (!s.empty());
}

}  // namespace

bool text_to_name(std::string_view text, std::string_view origin_wire, std::string& out, bool lower,
                  std::string& error) {
  out.clear();
  if (text == "@") {
    out.assign(origin_wire);
    return true;
  }
  if (text.empty()) return error = "empty name", false;
  if (text == ".") {
    out.push_back('\0');
    return true;
  }
  bool absolute = text.back() == '.' && (text.size() < 2 || text[text.size() - 2] != '\\');
  std::string label;
  auto flush = [&]() -> bool {
    if (label.empty()) return error = "empty label in '" + std::string(text) + "'", false;
    if (label.size() > kMaxLabel) return error = "label longer than 63 bytes in '" + std::string(text) + "'", false;
    out.push_back(char(label.size()));
    for (char c : label) out.push_back(lower ? char(ascii_lower(uint8_t(c))) : c);
    label.clear();
    return true;
  };
  size_t end = absolute ? text.size() - 1 : text.size();
  for (size_t i = 0; i < end; ++i) {
    char c = text[i];
    if (c == '\\' && i + 1 < end) {
      if (i + 3 < end && isdigit(uint8_t(text[i + 1])) && isdigit(uint8_t(text[i + 2])) &&
          isdigit(uint8_t(text[i + 3]))) {
        int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
        if (v > 255) return error = "bad \\DDD escape", false;
        label.push_back(char(v));
        i += 3;
      } else {
        label.push_back(text[++i]);
      }
    } else if (c == '.') {
      if (!flush()) return false;
    } else {
      label.push_back(c);
    }
  }
  if (!flush()) return false;
  if (absolute) out.push_back('\0');
  else out.append(origin_wire);
  if (out.size() > kMaxNameWire) return error = "name longer than 255 bytes", false;
  return true;
}

std::string name_to_text(std::string_view wire) {
  std::string out;
  size_t pos = 0;
  while (pos < wire.size() && wire[pos] != 0) {
    uint8_t len = uint8_t(wire[pos]);
    for (size_t i = 1; i <= len && pos + i < wire.size(); ++i) {
      char c = wire[pos + i];
      if (c == '.' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('.');
    pos += 1 + len;
  }
  return out.empty() ? "." : out;
}

std::optional<uint16_t> type_from_text(std::string_view text) {
  for (const auto& t : kTypes)
    if (iequals(text, t.name)) return t.type;
  if (text.size() > 4 && iequals(text.substr(0, 4), "TYPE")) {
    uint16_t v = 0;
    std::string num(text.substr(4));
    if (parse_uint(num, v)) return v;
  }
  return std::nullopt;
}

std::string type_to_text(uint16_t type) {
  for (const auto& t : kTypes)
    if (t.type == type) return t.name;
  return "TYPE" + std::to_string(type);
}

bool tokenize(std::string_view text, std::vector<Token>& out, std::string& error) {
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == ' ' || c == '\t') {
      ++i;
      continue;
    }
    Token t;
    if (c == '"') {
      t.quoted = true;
      ++i;
      for (;; ++i) {
        if (i >= text.size()) return error = "unterminated quoted string", false;
        if (text[i] == '\\' && i + 1 < text.size()) {
          t.text.push_back(text[++i]);
        } else if (text[i] == '"') {
          ++i;
          break;
        } else {
          t.text.push_back(text[i]);
        }
      }
    } else {
      while (i < text.size() && text[i] != ' ' && text[i] != '\t') t.text.push_back(text[i++]);
    }
    out.push_back(std::move(t));
  }
  return true;
}

bool rdata_from_tokens(uint16_t rtype, const std::vector<Token>& tk, std::string_view origin, std::string& out,
                       std::string& error) {
  out.clear();
  auto need = [&](size_t n) {
    if (tk.size() == n) return true;
    error = type_to_text(rtype) + " needs " + std::to_string(n) + " field(s), got " + std::to_string(tk.size());
    return false;
  };
  auto name = [&](const Token& t) {
    std::string n;
    if (!text_to_name(t.text, origin, n, false, error)) return false;
    out.append(n);
    return true;
  };
  auto u16 = [&](const Token& t) {
    uint16_t v;
    if (!parse_uint(t.text, v)) return error = "'" + t.text + "' is not a 16-bit number", false;
    append16(out, v);
    return true;
  };
  switch (rtype) {
    case type::kA:
    case type::kAAAA: {
      if (!need(1)) return false;
      uint8_t buf[16];
      int af = rtype == type::kA ? AF_INET : AF_INET6;
      if (inet_pton(af, tk[0].text.c_str(), buf) != 1)
        return error = "'" + tk[0].text + "' is not an " + (rtype == type::kA ? "IPv4" : "IPv6") + " address", false;
      out.assign(reinterpret_cast<char*>(buf), rtype == type::kA ? 4 : 16);
      return true;
    }
    case type::kCNAME:
    case type::kNS:
    case type::kPTR:
      return need(1) && name(tk[0]);
    case type::kMX:
      return need(2) && u16(tk[0]) && name(tk[1]);
    case type::kSRV:
      return need(4) && u16(tk[0]) && u16(tk[1]) && u16(tk[2]) && name(tk[3]);
    case type::kTXT:
      if (tk.empty()) return error = "TXT needs at least one string", false;
      for (const auto& t : tk) append_character_strings(out, t.text);
      return true;
    case type::kCAA: {
      if (!need(3)) return false;
      uint8_t flags;
      if (!parse_uint(tk[0].text, flags)) return error = "CAA flags must be 0-255", false;
      if (tk[1].text.empty() || tk[1].text.size() > 255) return error = "bad CAA tag", false;
      out.push_back(char(flags));
      out.push_back(char(tk[1].text.size()));
      out.append(tk[1].text);
      out.append(tk[2].text);
      return true;
    }
    case type::kSOA: {
      if (!need(7) || !name(tk[0]) || !name(tk[1])) return false;
      for (size_t i = 2; i < 7; ++i) {
        uint32_t v;
        if (!parse_uint(tk[i].text, v)) return error = "SOA field '" + tk[i].text + "' is not a number", false;
        append32(out, v);
      }
      return true;
    }
    default:
      error = "record type " + type_to_text(rtype) + " is not supported";
      return false;
  }
}

}  // namespace hop::dns
