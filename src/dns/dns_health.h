// The live health of a DnsConfig's policy answers. A configuration only says what each
// answer's health follows (DnsConfig::health_sources); the control thread binds that to
// health states when it applies the configuration, so a configuration that is only parsed
// (`hop check`, a reload rejected later) starts no probe. Immutable once bound; workers read
// it on every policy answer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace hop::health {
class HealthChecker;
}

namespace hop::dns {

struct DnsConfig;

class DnsHealth {
 public:
  DnsHealth() = default;  // nothing bound: every answer is in rotation (tests, the fuzzer)
  // sources[i] answers for DnsConfig::health_sources[i].
  explicit DnsHealth(std::vector<std::function<bool()>> sources) : sources_(std::move(sources)) {}

  // Whether the answer whose PolicyChoice::health is `source` is in rotation.
  bool healthy(int32_t source) const {
    return source < 0 || static_cast<size_t>(source) >= sources_.size() || sources_[source]();
  }

 private:
  std::vector<std::function<bool()>> sources_;
};

// "Is cluster NAME healthy": a predicate workers may call, or an empty function for a
// cluster without checks (always healthy).
using ClusterHealth = std::function<std::function<bool()>(std::string_view cluster)>;

// Binds every health source of `cfg`: a check of its own through `checker`, which probes
// each (target, check) once however many records and clusters watch it, and keeps probing
// it across reloads while someone holds its state; a cluster through `cluster_health`.
std::shared_ptr<const DnsHealth> bind_health(const DnsConfig& cfg, health::HealthChecker& checker,
                                             const ClusterHealth& cluster_health);

}  // namespace hop::dns
