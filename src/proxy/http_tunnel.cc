// HttpConnection after 101 Switching Protocols (WebSocket, RFC 6455 §4): hop stops speaking
// HTTP and relays bytes both ways, unparsed, through the buffers the connection already
// has — the client's input buffer upstream, the upstream connection's buffer to the client
// — so a tunnel costs no more memory than a request in flight, and each direction stops
// reading when the other side does not take what it holds. A FIN is passed on as a
// half-close once everything before it is delivered; the tunnel ends when both directions
// have ended, on an error, or after `timeouts.tunnel_idle` without a byte either way.
#include <sys/uio.h>

#include <cerrno>

#include "proxy/head_writer.h"
#include "proxy/http_connection.h"

namespace hop::proxy {

namespace {
enum class Drained { kAll, kFull, kFailed };

// Writes what `from` holds to `to` (a ClientSocket or an UpstreamConnection), counting the
// bytes written: all of it, up to a full socket, or a failure (errno kept).
template <typename Socket>
Drained drain_into(core::Buffer& from, Socket& to, uint64_t& counted) {
  iovec iov{const_cast<char*>(from.data()), from.size()};
  ssize_t n = to.writev(&iov, 1);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? Drained::kFull : Drained::kFailed;
  from.consume(static_cast<size_t>(n));
  counted += static_cast<uint64_t>(n);
  return static_cast<size_t>(n) < iov.iov_len ? Drained::kFull : Drained::kAll;
}
}  // namespace

// After handle_response_head has counted the 101 like any response head.
void HttpConnection::start_tunnel() {
  auto& in = up_->in();
  status_ = 101;
  resp_head_done_ = resp_started_ = true;
  DownstreamResponseParams p;
  p.upgrade = resp_.headers.get("upgrade");
  write_downstream_response_head(resp_, p, down_out_);
  in.consume(resp_.head_bytes);  // what follows the head is the upstream's first frames
  phase_ = Phase::kTunnel;
  tunnel_client_shut_ = tunnel_upstream_shut_ = false;
  // An earlier edge may have been consumed while hop waited for the head: read both once.
  up_readable_ = down_readable_ = true;
  last_progress_ = ctx_.loop.now();
  timer_.arm(listener().timeouts.tunnel_idle);
  lstats_->upgrades.inc();
  lstats_->active_tunnels.add(1);
}

void HttpConnection::end_tunnel() {
  lstats_->active_tunnels.add(-1);
  release_upstream(false);  // never reused: it speaks WebSocket now
}

bool HttpConnection::pump_tunnel() {
  bool moved = false;
  // Upstream → client: the 101 head first (in down_out_), then the upstream's bytes.
  for (int rounds = 0; rounds < 16; ++rounds) {
    if (!flush_downstream()) {
      if (phase_ == Phase::kClosed) return true;  // the write failed: close() ended the tunnel
      break;
    }
    if (!up_->in().empty()) {
      if (!down_writable_) break;
      Drained d = drain_into(up_->in(), sock_, bytes_sent_);
      if (d == Drained::kFailed) {
        client_eof_ = true;  // the client is gone: nothing more can reach it
        close();
        return true;
      }
      last_progress_ = ctx_.loop.now();
      moved = true;
      if (d == Drained::kFull) {
        down_writable_ = false;
        break;
      }
      continue;
    }
    if (up_->eof() || !up_readable_) break;
    ssize_t r = up_->read_into_buffer();
    if (r > 0) {
      last_progress_ = ctx_.loop.now();
      moved = true;
      continue;
    }
    if (r < 0) {
      hop_error_ = "upstream-reset";
      close();
      return true;
    }
    if (!up_->eof()) up_readable_ = false;  // drained (or the buffer is full: see above)
    break;
  }
  if (up_->eof() && up_->in().empty() && down_out_.empty() && !tunnel_client_shut_) {
    sock_.shutdown_write();
    tunnel_client_shut_ = true;
    moved = true;
  }
  // Client → upstream: whatever followed the request head, then what the client sends.
  for (int rounds = 0; rounds < 16; ++rounds) {
    if (!in_.empty()) {
      if (!up_writable_) break;
      Drained d = drain_into(in_, *up_, bytes_received_);
      if (d == Drained::kFailed) {
        hop_error_ = "upstream-reset";
        close();
        return true;
      }
      last_progress_ = ctx_.loop.now();
      moved = true;
      if (d == Drained::kFull) {
        up_writable_ = false;
        break;
      }
      continue;
    }
    if (!read_downstream()) break;  // nothing to read, or EOF seen (then client_eof_)
    moved = true;
    if (client_reset_) {
      close();  // a reset is not a half-close: nothing will come to say the rest is done
      return true;
    }
    if (client_eof_) break;
  }
  if (client_eof_ && in_.empty() && !tunnel_upstream_shut_) {
    up_->shutdown_write();
    tunnel_upstream_shut_ = true;
    moved = true;
  }
  if (tunnel_client_shut_ && tunnel_upstream_shut_) {
    close();  // both directions ended: the tunnel is done
    return true;
  }
  // A quiet tunnel holds no buffers: thousands of idle WebSockets cost their sockets only.
  in_.release_if_empty();
  if (up_) up_->in().release_if_empty();
  return moved;
}

}  // namespace hop::proxy
