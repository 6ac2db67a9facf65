#include "config/base/errors.h"

#include <algorithm>

namespace hop::config {

std::string ConfigError::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message;
}

void ConfigErrors::add(const YAML::Mark& at, std::string message) {
  // yaml-cpp marks are 0-based; a null mark (-1) means "no position".
  int line = at.line >= 0 ? at.line + 1 : 1;
  int col = at.column >= 0 ? at.column + 1 : 1;
  errors_.push_back({file_, line, col, std::move(message)});
}

void ConfigErrors::add(const YAML::Node& at, std::string message) { add(at.Mark(), std::move(message)); }

void ConfigErrors::add_global(std::string message) { errors_.push_back({file_, 1, 1, std::move(message)}); }

std::string ConfigErrors::to_string() const {
  // In file order, as an editor would walk them (readers report in the order they check).
  std::vector<ConfigError> sorted = errors_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const ConfigError& a, const ConfigError& b) {
    return a.line != b.line ? a.line < b.line : a.col < b.col;
  });
  std::string out;
  for (const auto& e : sorted) out += e.to_string() + "\n";
  return out;
}

}  // namespace hop::config
