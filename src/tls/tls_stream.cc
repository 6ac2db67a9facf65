#include "tls/tls_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>

#include "tls/openssl_util.h"

namespace hop::tls {

namespace {
// One TLS record's worth of plaintext: small iovecs (a response head, a chunk header) are
// gathered so they leave in one record instead of one record each.
constexpr size_t kRecord = 16 * 1024;
}  // namespace

TlsStream::TlsStream(SSL* ssl) : ssl_(ssl) {}

TlsStream::~TlsStream() {
  // SSL_free forgets the session (no resumption) unless both close_notify alerts were
  // seen. That rule protected SSL 3.0 against truncation; TLS 1.2 (RFC 5246 §7.2.1) dropped
  // it, and HTTP connections routinely end with a bare FIN or an idle close. Only sessions
  // that ended in a protocol error are forgotten.
  if (done_ && !broken_) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl_);
}

IoStatus TlsStream::fail(int ret) {
  int e = SSL_get_error(ssl_, ret);
  switch (e) {
    case SSL_ERROR_WANT_READ: return IoStatus::kWantRead;
    case SSL_ERROR_WANT_WRITE: return IoStatus::kWantWrite;
    case SSL_ERROR_ZERO_RETURN: return IoStatus::kEof;
    case SSL_ERROR_SYSCALL: {
      // After SSL_ERROR_SYSCALL or SSL_ERROR_SSL the session must not send close_notify.
      fatal_ = true;
      int err = errno;
      unsigned long code = ERR_peek_error();
      if (code == 0 && err == 0) return IoStatus::kEof;  // TCP FIN without close_notify
      broken_ = true;
      error_ = code ? ERR_reason_error_string(code) : strerror(err);
      ERR_clear_error();
      return IoStatus::kError;
    }
    case SSL_ERROR_SSL: {
      fatal_ = true;
      unsigned long code = ERR_peek_error();
      // OpenSSL 3 reports a FIN without close_notify this way. HTTP framing (Content-Length,
      // chunked, h2 END_STREAM) already tells a truncated message from a complete one.
      if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        return IoStatus::kEof;
      }
      broken_ = true;
      const char* reason = code ? ERR_reason_error_string(code) : nullptr;
      error_ = reason ? reason : "TLS protocol error";
      long vr = SSL_get_verify_result(ssl_);
      if (vr != X509_V_OK) error_ += std::string(": ") + X509_verify_cert_error_string(vr);
      ERR_clear_error();
      return IoStatus::kError;
    }
    default:
      fatal_ = broken_ = true;
      error_ = "unexpected SSL error " + std::to_string(e);
      ERR_clear_error();
      return IoStatus::kError;
  }
}

IoStatus TlsStream::handshake() {
  if (done_) return IoStatus::kOk;
  ERR_clear_error();
  errno = 0;
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    done_ = true;
    return IoStatus::kOk;
  }
  IoStatus st = fail(r);
  // A peer that closes during the handshake has failed it, whatever the socket says.
  if (st == IoStatus::kEof) {
    if (error_.empty()) error_ = "connection closed during the handshake";
    return IoStatus::kError;
  }
  return st;
}

IoResult TlsStream::read(char* buf, size_t len) {
  ERR_clear_error();
  errno = 0;
  size_t n = 0;
  int r = SSL_read_ex(ssl_, buf, len, &n);
  if (r == 1) return {IoStatus::kOk, n};
  return {fail(r), 0};
}

IoResult TlsStream::write(const char* data, size_t len) {
  iovec v{const_cast<char*>(data), len};
  return writev(&v, 1);
}

IoResult TlsStream::writev(const iovec* iov, int count) {
  // With SSL_MODE_ENABLE_PARTIAL_WRITE each SSL_write returns once a record has gone out;
  // after a WANT_* the caller retries with the same bytes at the front (possibly at another
  // address: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), which is what gathering them again gives.
  char gather[kRecord];
  size_t total = 0;
  int i = 0;
  size_t off = 0;  // into iov[i]
  while (i < count) {
    const char* p;
    size_t len;
    size_t left = iov[i].iov_len - off;
    if (left == 0) {
      ++i;
      off = 0;
      continue;
    }
    if (left >= kRecord || i + 1 == count) {
      p = static_cast<const char*>(iov[i].iov_base) + off;
      len = left;
    } else {
      len = 0;
      for (int j = i; j < count && len < kRecord; ++j) {
        size_t from = j == i ? off : 0;
        size_t take = std::min(iov[j].iov_len - from, kRecord - len);
        memcpy(gather + len, static_cast<const char*>(iov[j].iov_base) + from, take);
        len += take;
      }
      p = gather;
    }
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    int r = SSL_write_ex(ssl_, p, len, &n);
    if (r != 1) {
      IoStatus st = fail(r);
      if (total > 0 && st != IoStatus::kError) return {IoStatus::kOk, total};
      return {st, total};
    }
    total += n;
    // Advance over n bytes.
    while (n > 0 && i < count) {
      size_t l = iov[i].iov_len - off;
      if (n < l) {
        off += n;
        n = 0;
      } else {
        n -= l;
        ++i;
        off = 0;
      }
    }
  }
  return {IoStatus::kOk, total};
}

bool TlsStream::pending() const { return SSL_pending(ssl_) > 0; }

void TlsStream::shutdown() {
  if (!done_ || fatal_ || shutdown_sent_) return;
  shutdown_sent_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // sends close_notify; the peer's is not waited for
  ERR_clear_error();
}

std::string_view TlsStream::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p ? std::string_view(reinterpret_cast<const char*>(p), len) : std::string_view();
}

std::string_view TlsStream::server_name() const {
  const char* n = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return n ? std::string_view(n) : std::string_view();
}

const char* TlsStream::version() const { return SSL_get_version(ssl_); }

const char* TlsStream::cipher() const { return SSL_get_cipher_name(ssl_); }

bool TlsStream::resumed() const { return SSL_session_reused(ssl_) == 1; }

bool TlsStream::peer_verified() const {
  return SSL_get0_peer_certificate(ssl_) != nullptr && SSL_get_verify_result(ssl_) == X509_V_OK;
}

std::string TlsStream::peer_subject() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  return cert ? subject_line(cert) : std::string();
}

}  // namespace hop::tls
