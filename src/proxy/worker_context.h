// What a worker hands to the connections it owns. Everything here belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "proxy/access_log.h"
#include "proxy/snapshot.h"
#include "upstream/worker_upstreams.h"

namespace hop::proxy {

class HttpConnection;

struct WorkerContext {
  unsigned index = 0;
  core::EventLoop& loop;
  core::BufferPool& buffers;
  upstream::WorkerUpstreams& upstreams;
  AccessLog& access_log;
  std::shared_ptr<const Snapshot> snapshot;  // swapped by the worker on reload
  bool draining = false;
  uint64_t rng = 0x2545F4914F6CDD1Dull;
  HttpConnection* connections = nullptr;     // intrusive list, for drain and counting
  size_t connection_count = 0;

  uint64_t random() {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
  }
};

}  // namespace hop::proxy
