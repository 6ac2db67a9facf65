#pragma once

#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

namespace hop::http {

struct Header {
  std::string_view name;
  std::string_view value;
};

// Views of a message's header fields, in order. The vector keeps its capacity across
// messages on a connection, so steady-state parsing does not allocate.
// Header fields of a message that is not HTTP/1.1 text (HTTP/2 and HTTP/3 codecs): names
// lowercase, views valid for the call they are passed to.
using HeaderPairs = std::vector<std::pair<std::string_view, std::string_view>>;

class HeaderList {
 public:
  void clear() { fields_.clear(); }
  void add(std::string_view name, std::string_view value) { fields_.push_back({name, value}); }
  size_t size() const { return fields_.size(); }
  const Header& operator[](size_t i) const { return fields_[i]; }
  auto begin() const { return fields_.begin(); }
  auto end() const { return fields_.end(); }
  // First value of a field (case-insensitive name), or empty view when absent.
  std::string_view get(std::string_view name) const;
  bool has(std::string_view name) const;

 private:
  std::vector<Header> fields_;
};

}  // namespace hop::http
