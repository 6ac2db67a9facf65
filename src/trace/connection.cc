#include "trace/connection.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace hop::trace {

namespace {

int ms_until(core::TimePoint deadline) {
  auto left = std::chrono::duration_cast<core::Millis>(deadline - core::Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1000000 ? 1000000 : static_cast<int>(left) + 1;
}

std::string name_line(X509_NAME* name) {
  if (!name) return "";
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

std::string asn1_time_utc(const ASN1_TIME* t) {
  tm parts{};
  if (!t || ASN1_TIME_to_tm(t, &parts) != 1) return "";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &parts);
  return buf;
}

void describe_certificate(X509* cert, TlsInfo& info) {
  info.subject = name_line(X509_get_subject_name(cert));
  info.issuer = name_line(X509_get_issuer_name(cert));
  info.not_after = asn1_time_utc(X509_get0_notAfter(cert));
}

void fill_certificate(SSL* ssl, TlsInfo& info) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return;
  describe_certificate(cert, info);
  X509_free(cert);
}

// OpenSSL keeps no peer certificate when verification fails, yet a refused certificate is
// exactly the one worth describing; the verify callback sees the leaf either way.
int on_verify(int preverify_ok, X509_STORE_CTX* store) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* info = ssl ? static_cast<TlsInfo*>(SSL_get_app_data(ssl)) : nullptr;
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  if (info && cert && X509_STORE_CTX_get_error_depth(store) == 0 && info->subject.empty())
    describe_certificate(cert, *info);
  return preverify_ok;  // with SSL_VERIFY_NONE (-k) OpenSSL ignores this
}

}  // namespace

Connection::~Connection() { close(); }

void Connection::close() {
  if (ssl_) {
    // Without close_notify OpenSSL marks the session not resumable (ssl_clear_bad_session),
    // and --no-reuse could never show a resumed handshake. One non-blocking try is enough.
    if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool Connection::wait(short events, core::TimePoint deadline, std::string& error,
                      const char* what) {
  while (true) {
    int timeout = ms_until(deadline);
    if (timeout == 0) {
      error = std::string("timed out ") + what;
      return false;
    }
    pollfd p{fd_, events, 0};
    int rc = poll(&p, 1, timeout);
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) {
      error = std::string("poll: ") + std::strerror(errno);
      return false;
    }
  }
}

bool Connection::connect_tcp(const std::vector<core::Address>& addresses,
                             core::TimePoint deadline, std::string& error) {
  close();
  if (addresses.empty()) {
    error = "no address to connect to";
    return false;
  }
  for (const auto& addr : addresses) {
    remote_ = addr;
    fd_ = core::connect_socket(addr);
    if (fd_ < 0) {
      error = addr.to_string() + ": " + std::strerror(errno);
      continue;
    }
    std::string wait_error;
    if (!wait(POLLOUT, deadline, wait_error, "connecting")) {
      error = addr.to_string() + ": " + wait_error;
      close();
      return false;  // the deadline is spent; trying the next address would not help
    }
    int so_error = core::socket_error(fd_);
    if (so_error == 0) {
      core::set_nodelay(fd_);
      return true;
    }
    error = addr.to_string() + ": " + std::strerror(so_error);
    close();
  }
  return false;
}

bool Connection::start_tls(TlsClientContext& tls, const std::string& host,
                           const std::vector<std::string>& alpn, bool resume,
                           core::TimePoint deadline, TlsInfo& info, std::string& error) {
  ERR_clear_error();
  ssl_ = SSL_new(tls.ctx());
  if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1) {
    error = "SSL_new: " + take_openssl_errors();
    return false;
  }
  bool is_ip = core::Address::from_ip(host, 0).has_value();
  if (!is_ip) SSL_set_tlsext_host_name(ssl_, host.c_str());  // RFC 6066 §3: no SNI for IPs
  if (!tls.insecure()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                   : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    if (ok != 1) {
      error = "cannot set the name to verify: " + take_openssl_errors();
      return false;
    }
  }
  if (!alpn.empty()) {
    std::string wire;
    for (const auto& p : alpn) {
      wire.push_back(static_cast<char>(p.size()));
      wire += p;
    }
    SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  if (resume && tls.last_session()) SSL_set_session(ssl_, tls.last_session());
  SSL_set_app_data(ssl_, &info);
  SSL_set_verify(ssl_, SSL_get_verify_mode(ssl_), on_verify);

  while (true) {
    int rc = SSL_connect(ssl_);
    if (rc == 1) break;
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, error,
                "in the TLS handshake"))
        return false;
      continue;
    }
    SSL_set_app_data(ssl_, nullptr);
    if (info.subject.empty()) fill_certificate(ssl_, info);
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      error = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    } else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) {
      std::string detail = take_openssl_errors();
      error = "connection closed during the TLS handshake" +
              (detail.empty() ? std::string() : ": " + detail);
    } else {
      error = "TLS handshake failed: " + take_openssl_errors();
    }
    return false;
  }
  info.version = SSL_get_version(ssl_);
  info.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_));
  const unsigned char* proto = nullptr;
  unsigned proto_len = 0;
  SSL_get0_alpn_selected(ssl_, &proto, &proto_len);
  info.alpn.assign(reinterpret_cast<const char*>(proto), proto_len);
  info.resumed = SSL_session_reused(ssl_) == 1;
  if (info.subject.empty()) fill_certificate(ssl_, info);  // resumed: no verify callback
  SSL_set_app_data(ssl_, nullptr);
  return true;
}

bool Connection::write_all(std::string_view data, core::TimePoint deadline, std::string& error) {
  while (!data.empty()) {
    long n;
    if (ssl_) {
      ERR_clear_error();
      int rc = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 30)));
      if (rc > 0) {
        n = rc;
      } else {
        int err = SSL_get_error(ssl_, rc);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
          if (!wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, error, "sending"))
            return false;
          continue;
        }
        error = "TLS write failed: " + take_openssl_errors();
        return false;
      }
    } else {
      n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
          if (!wait(POLLOUT, deadline, error, "sending")) return false;
          continue;
        }
        error = std::string("send: ") + std::strerror(errno);
        return false;
      }
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

long Connection::read_some(char* buf, size_t len, core::TimePoint deadline, std::string& error) {
  while (true) {
    if (ssl_) {
      ERR_clear_error();
      int rc = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(len, 1 << 30)));
      if (rc > 0) return rc;
      int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_ZERO_RETURN) return 0;
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, error, "waiting for data"))
          return -1;
        continue;
      }
      // A peer that closes without close_notify: treat as EOF, as browsers do, and let
      // the response reader decide whether the message was complete.
      if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return 0;
      std::string detail = take_openssl_errors();
      if (detail.find("unexpected eof") != std::string::npos) return 0;
      error = "TLS read failed: " + detail;
      return -1;
    }
    long n = ::recv(fd_, buf, len, 0);
    if (n >= 0) return n;
    if (errno == EAGAIN || errno == EINTR) {
      if (!wait(POLLIN, deadline, error, "waiting for data")) return -1;
      continue;
    }
    error = std::string("recv: ") + std::strerror(errno);
    return -1;
  }
}

}  // namespace hop::trace
