// The client TLS configuration of one trace run: trust, verification and the session kept
// for resumption, so --no-reuse can show what a resumed handshake saves.
#pragma once

#include <openssl/ssl.h>

#include <string>

namespace hop::trace {

class TlsClientContext {
 public:
  struct Options {
    bool insecure = false;  // -k: handshake and report, but do not verify
    std::string cacert;     // PEM file; empty = the system store
  };
  TlsClientContext() = default;
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  bool init(const Options& options, std::string& error);
  SSL_CTX* ctx() const { return ctx_; }
  bool insecure() const { return insecure_; }

  // The newest session the server handed us (TLS 1.3 tickets arrive after the handshake,
  // so this is filled by callback rather than read once after connecting).
  SSL_SESSION* last_session() const { return last_session_; }
  void forget_session();

 private:
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  SSL_CTX* ctx_ = nullptr;
  SSL_SESSION* last_session_ = nullptr;
  bool insecure_ = false;
};

// OpenSSL's error queue as one line, and cleared, so the next failure starts fresh.
std::string take_openssl_errors();

}  // namespace hop::trace
