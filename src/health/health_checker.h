// Active health checks, one checker per process on the control thread. Proxy clusters and
// DNS records watch the same targets through it when the control thread applies a
// configuration, so a host is probed once however many places use it. Workers read results
// lock-free through HealthState.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/socket.h"
#include "health/check_spec.h"
#include "health/health_state.h"

namespace hop::health {

class HealthChecker {
 public:
  explicit HealthChecker(core::EventLoop& control_loop);
  ~HealthChecker();

  // Returns the shared state for (target, spec), starting probes if it is new. The same
  // pair returns the same state across config reloads, so health survives a SIGHUP. A
  // target nobody holds any more (only the checker's reference left) stops being probed.
  std::shared_ptr<HealthState> watch(const core::Address& target, const CheckSpec& spec);

  size_t watched() const;

 private:
  struct Probe;
  void schedule(Probe& p);
  void start_probe(Probe& p);
  void finish_probe(Probe& p, bool ok, std::string result);
  void collect_unused();

  core::EventLoop& loop_;
  std::vector<std::unique_ptr<Probe>> probes_;
};

}  // namespace hop::health
