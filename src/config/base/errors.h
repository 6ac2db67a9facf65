// Configuration errors carry the position of the YAML node they are about, so every
// subsystem's config reader reports `FILE:LINE:COL: message` the same way.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace hop::config {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based
  int col = 0;   // 1-based
  std::string message;
  std::string to_string() const;
};

class ConfigErrors {
 public:
  explicit ConfigErrors(std::string file) : file_(std::move(file)) {}
  void add(const YAML::Node& at, std::string message);
  void add(const YAML::Mark& at, std::string message);
  void add_global(std::string message);  // no position: reported as FILE:1:1
  bool empty() const { return errors_.empty(); }
  const std::vector<ConfigError>& all() const { return errors_; }
  const std::string& file() const { return file_; }
  std::string to_string() const;  // one error per line

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

}  // namespace hop::config
