// A TLS session on a non-blocking socket (OpenSSL, socket BIO). Connections call it where
// they would call recv/writev. With edge-triggered epoll the caller must keep reading while
// pending() is true: decrypted bytes can wait inside OpenSSL with no socket event to come.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

typedef struct ssl_st SSL;

namespace hop::tls {

enum class IoStatus : int8_t {
  kOk,         // some bytes moved
  kWantRead,   // wait for the socket to be readable
  kWantWrite,  // wait for the socket to be writable
  kEof,        // the peer closed (close_notify or TCP FIN)
  kError,      // protocol or socket error: close the connection (see error())
};

struct IoResult {
  IoStatus status;
  size_t bytes = 0;
};

class TlsStream {
 public:
  // Takes ownership of `ssl` (already bound to the fd and set to accept or connect state).
  explicit TlsStream(SSL* ssl);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Drives the handshake: kOk when complete, kWantRead/kWantWrite to wait, kError.
  IoStatus handshake();
  bool handshake_done() const { return done_; }

  IoResult read(char* buf, size_t len);
  // Writes as much of the vector as the socket takes (partial writes allowed); kOk with the
  // byte count, or kWantRead/kWantWrite when nothing could be written.
  IoResult writev(const iovec* iov, int count);
  IoResult write(const char* data, size_t len);
  // Decrypted bytes are buffered inside the session: read() will return them without a
  // socket event.
  bool pending() const;
  // Sends close_notify (best effort, never blocks).
  void shutdown();

  // After the handshake.
  std::string_view alpn() const;        // "" when none was negotiated
  std::string_view server_name() const; // SNI the client sent ("" = none)
  const char* version() const;          // "TLSv1.3"
  const char* cipher() const;
  bool resumed() const;
  bool peer_verified() const;           // a client/server certificate was presented and verified
  std::string peer_subject() const;     // one-line subject of the peer's certificate, "" = none
  // Why the last kError happened ("certificate verify failed", "wrong version number", ...).
  const std::string& error() const { return error_; }

  SSL* ssl() const { return ssl_; }

 private:
  IoStatus fail(int ret);
  SSL* ssl_;
  bool done_ = false;
  bool fatal_ = false;   // SSL_ERROR_SYSCALL/SSL seen: no close_notify may follow
  bool broken_ = false;  // a protocol or socket error (not a plain EOF): the session is not resumed
  bool shutdown_sent_ = false;
  std::string error_;
};

}  // namespace hop::tls
