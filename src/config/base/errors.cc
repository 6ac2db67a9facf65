#include "config/base/errors.h"

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
  std::string out;
  for (const auto& e : errors_) out += e.to_string() + "\n";
  return out;
}

}  // namespace hop::config
