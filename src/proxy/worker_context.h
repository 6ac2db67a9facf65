// What a worker hands to the connections it owns. Everything here belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/pipe_pool.h"
#include "proxy/access_log.h"
#include "proxy/snapshot.h"
#include "upstream/worker_upstreams.h"

namespace hop::proxy {

// A client connection a worker owns, whatever its protocol: the worker lists them to drain
// or abort them on shutdown.
class DownstreamConnection {
 public:
  // Finish what is in flight, take nothing new, then close (HTTP/2: GOAWAY).
  virtual void drain() = 0;
  // Close now, whatever is in flight (the drain deadline passed).
  virtual void abort() = 0;

  DownstreamConnection* next = nullptr;  // WorkerContext::connections list
  DownstreamConnection* prev = nullptr;

 protected:
  ~DownstreamConnection() = default;
};

struct WorkerContext {
  unsigned index = 0;
  core::EventLoop& loop;
  core::BufferPool& buffers;
  upstream::WorkerUpstreams& upstreams;
  AccessLog& access_log;
  std::shared_ptr<const Snapshot> snapshot;  // swapped by the worker on reload
  bool draining = false;
  uint64_t rng = 0x2545F4914F6CDD1Dull;
  DownstreamConnection* connections = nullptr;  // intrusive list, for drain and counting
  size_t connection_count = 0;
  core::PipePool pipes{};  // for spliced response bodies

  void link(DownstreamConnection* c) {
    c->next = connections;
    if (connections) connections->prev = c;
    connections = c;
    ++connection_count;
  }
  void unlink(DownstreamConnection* c) {
    if (c->prev) c->prev->next = c->next;
    else connections = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = nullptr;
    --connection_count;
  }

  uint64_t random() {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
  }
};

}  // namespace hop::proxy
