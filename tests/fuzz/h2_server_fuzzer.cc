// libFuzzer target for hop's HTTP/2 server side: the bytes after the connection preface go
// through h2::ServerConnection (nghttp2 plus hop's callbacks: header counting, skipped
// stream ids, abuse counters, flow-control crediting) to the built-in backend's streams,
// over a real socketpair and event loop. Any input must end in responses, a GOAWAY or a
// close — never a crash, a leak or a hang.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "backend/backend_connection.h"
#include "backend/h2_backend.h"
#include "core/buffer.h"
#include "core/event_loop.h"

namespace {
struct Ignore final : hop::core::IoHandler {
  void on_io(uint32_t) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool init = [] {
    signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)init;
  hop::core::EventLoop loop;
  hop::core::BufferPool buffers;
  hop::backend::BackendContext ctx{loop, buffers, "fuzz", 0, false, 0, {}, {}};
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  std::string in = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  in.append(reinterpret_cast<const char*>(data), size);
  size_t off = 0;
  while (off < in.size()) {
    ssize_t n = ::write(sv[1], in.data() + off, in.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::shutdown(sv[1], SHUT_WR);
  Ignore ignore;
  loop.add(sv[0], &ignore);  // the codec takes over a registered socket, as after accept
  new hop::backend::H2Backend(ctx, sv[0], "127.0.0.1", {});
  // A bounded number of loop turns: responses are written, /delay/ requests are cut short.
  int turns = 0;
  hop::core::Timer tick(loop, [] {});
  std::function<void()> step;
  hop::core::Timer stepper(loop, [&] {
    char sink[65536];
    while (::read(sv[1], sink, sizeof sink) > 0) {
    }
    if (++turns >= 20 || ctx.open_connections == 0) loop.stop();
    else stepper.arm(hop::core::Millis(0));
  });
  stepper.arm(hop::core::Millis(0));
  loop.run();
  for (auto* c : std::vector<hop::backend::H2Backend*>(ctx.h2_connections.begin(), ctx.h2_connections.end()))
    c->abort();
  loop.run_deferred_now();
  ::close(sv[1]);
  return 0;
}
