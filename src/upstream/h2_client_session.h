// One HTTP/2 connection to an upstream host, owned by an H2Pool: a non-blocking connect,
// TLS with ALPN h2 (or cleartext h2c with prior knowledge), then an nghttp2 client
// session carrying the pool's users' streams.
//
// Re-entrancy: users are called from inside nghttp2's callbacks and may call submit,
// cancel, resume_body or consume on this session from there. Those only queue frames
// (nghttp2's submit functions are safe inside callbacks) and ask for another pass of
// progress(); socket I/O and nghttp2_session_del happen only at the top of an event, so
// no call from a user ever re-enters that user.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/event_loop.h"
#include "core/socket.h"
#include "upstream/h2_session.h"

namespace hop::tls {
class ClientContext;
class TlsStream;
}  // namespace hop::tls

namespace hop::upstream {

class H2ClientSession;

class H2SessionOwner {
 public:
  // Connected (and TLS done): the session takes streams.
  virtual void on_session_ready(H2ClientSession& s) = 0;
  // A stream closed, or the peer's SETTINGS or GOAWAY changed what the session takes.
  virtual void on_session_slots(H2ClientSession& s) = 0;
  // The socket is gone; open streams' users are told after this returns. connecting: it
  // never became ready (why/error say how it failed). The owner frees it (deferred).
  virtual void on_session_closed(H2ClientSession& s, bool connecting, PoolFailure why, int error) = 0;

 protected:
  ~H2SessionOwner() = default;
};

struct H2SessionSettings {
  core::Millis connect_timeout{2000};  // TCP connect and TLS handshake
  core::Millis idle_timeout{60000};    // no stream open
  uint32_t max_streams_cap = 100;      // hop's own cap, below the peer's limit
  core::Millis ping_interval{0};       // keepalive PING after this long without a frame; 0 = off
  core::Millis ping_timeout{5000};     // closed when nothing arrives this long after a PING
};

class H2ClientSession final : public H2Session, public core::IoHandler {
 public:
  H2ClientSession(core::EventLoop& loop, H2SessionOwner& owner, const core::Address& address,
                  std::shared_ptr<const tls::ClientContext> tls, const std::string& server_name,
                  const H2SessionSettings& settings);
  ~H2ClientSession();
  H2ClientSession(const H2ClientSession&) = delete;
  H2ClientSession& operator=(const H2ClientSession&) = delete;

  // Starts the connect; false (errno set) when the socket could not even be created.
  bool start();

  int32_t submit(H2StreamUser& user, const http::HeaderPairs& headers, bool has_body) override;
  void resume_body(int32_t stream) override;
  void consume(int32_t stream, size_t n) override;
  void cancel(int32_t stream) override;
  uint64_t streams_opened() const override { return streams_opened_; }

  void on_io(uint32_t events) override;

  bool ready() const { return state_ == State::kReady; }
  // Ready, not going away, below min(peer's SETTINGS_MAX_CONCURRENT_STREAMS, cap).
  bool accepting() const;
  size_t open_streams() const { return streams_.size(); }
  uint32_t stream_limit() const;
  void update(const H2SessionSettings& settings);
  // Drain: close now when no stream is open, else when the last one ends.
  void close_when_idle(bool on);
  // Closes now; open streams are reset (refused when the peer never saw them).
  void close();

 private:
  enum class State { kConnecting, kHandshaking, kReady, kClosed };
  struct Stream {
    H2StreamUser* user = nullptr;  // null once ended, reset or cancelled
    size_t unconsumed = 0;         // response bytes the user holds and has not consumed
    bool deferred = false;         // the body provider returned NGHTTP2_ERR_DEFERRED
    bool headers_sent = false;     // the peer may have seen the request
    bool final_seen = false;       // the final response head was delivered
    int status = 0;                // :status of the header block being received
  };
  friend struct H2Callbacks;

  void on_connected();
  void handshake();
  void start_h2();
  void progress();
  bool read_socket();
  bool write_socket();
  ssize_t write_raw(const char* data, size_t len);
  void schedule();
  void on_timer();
  void arm_keepalive();
  void on_keepalive();
  void teardown(bool connecting, PoolFailure why, int error);
  Stream* find(int32_t id);
  bool ids_exhausted() const;
  void detach(int32_t id, Stream& st);
  http::HeaderPairs& header_pairs();

  core::EventLoop& loop_;
  H2SessionOwner& owner_;
  core::Address address_;
  std::shared_ptr<const tls::ClientContext> tls_ctx_;
  std::string server_name_;
  H2SessionSettings settings_;
  State state_ = State::kConnecting;
  int fd_ = -1;
  std::unique_ptr<tls::TlsStream> tls_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, Stream> streams_;
  uint64_t streams_opened_ = 0;

  std::string out_;  // frames nghttp2 produced that the socket has not taken yet
  size_t out_sent_ = 0;
  bool readable_ = false;
  bool writable_ = false;
  bool write_wants_read_ = false;  // OpenSSL needs to read before it can write again
  bool in_progress_ = false;
  bool again_ = false;          // something asked for another pass while one ran
  bool slots_changed_ = false;  // tell the owner after the pass
  bool goaway_ = false;         // the peer sent GOAWAY: no new streams
  bool close_when_idle_ = false;
  bool close_requested_ = false;

  // The header block being received (HEADERS frames of different streams never
  // interleave): names and values copied here, views handed to the user at the end.
  std::string hdr_bytes_;
  std::vector<std::pair<uint32_t, uint32_t>> hdr_index_;  // name length, value length
  http::HeaderPairs hdr_pairs_;
  std::vector<nghttp2_nv> nva_;

  core::Timer timer_;  // connect timeout, then idle timeout
  core::Timer flush_;  // a pass of progress() asked for outside any event
  // Keepalive (settings_.ping_interval > 0): any bytes from the host prove it alive; after
  // ping_interval of silence a PING goes out, and silence for ping_timeout after it closes
  // the session. The timer is re-armed lazily from last_read_, not on every read.
  core::Timer keepalive_;
  core::TimePoint last_read_{};
  core::TimePoint ping_sent_{};
  bool ping_outstanding_ = false;
};

}  // namespace hop::upstream
