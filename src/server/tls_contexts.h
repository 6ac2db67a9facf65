// The control thread's TLS state: builds each config's server and client contexts and
// owns the session-ticket key rings, one per listener name, kept across reloads (tickets
// issued before a SIGHUP still resume after it) and rotated on each listener's schedule.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "core/clock.h"
#include "proxy/snapshot.h"
#include "tls/ticket_keys.h"

namespace hop::server {

class TlsRegistry {
 public:
  // Reads every certificate and key the config names; false with `error` when one fails
  // (the caller keeps the configuration in force).
  bool build(const config::Config& cfg, proxy::TlsContexts& out, std::string& error);
  // Rotates the rings whose period has passed; call periodically.
  void rotate_due(core::TimePoint now);

 private:
  struct Ring {
    std::shared_ptr<tls::TicketKeyRing> ring;
    core::TimePoint rotated{};
    core::Millis period{};
  };
  std::map<std::string, Ring> rings_;
};

}  // namespace hop::server
