// Presentation format (RFC 1035 §5.1) → wire form, shared by zone files and YAML records.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hop::dns {

// "www", "www.hop.test.", "@" → wire form; relative names get `origin_wire` appended.
// `lower` lower-cases the result (owner names); rdata names keep their case.
bool text_to_name(std::string_view text, std::string_view origin_wire, std::string& out, bool lower,
                  std::string& error);
std::string name_to_text(std::string_view wire);

std::optional<uint16_t> type_from_text(std::string_view text);  // "A", "AAAA", "TYPE65"
std::string type_to_text(uint16_t type);

// Tokens of one record's rdata, quotes already removed for quoted strings (`quoted` marks
// them, so TXT keeps the spaces inside "a b").
struct Token {
  std::string text;
  bool quoted = false;
};

bool rdata_from_tokens(uint16_t type, const std::vector<Token>& tokens, std::string_view origin_wire,
                       std::string& out, std::string& error);

// Splits one line of presentation text into tokens (quotes, \" escapes); used for YAML
// `value:` strings.
bool tokenize(std::string_view text, std::vector<Token>& out, std::string& error);

}  // namespace hop::dns
