// OpenSSL helpers shared inside src/tls (not part of its interface).
#pragma once

#include <string>
#include <vector>

typedef struct x509_st X509;

namespace hop::tls {

// Mozilla's "intermediate" TLS 1.2 list: forward secrecy and AEAD only.
inline constexpr const char* kDefaultCiphers12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// "what: reason" from the newest entry of OpenSSL's error queue, which it then clears.
std::string openssl_error(const std::string& what);
bool is_ip_literal(const std::string& s);

// subjectAltName DNS entries and IP addresses ("127.0.0.1", "::1"), in certificate order.
std::vector<std::string> cert_names(X509* cert);
// "CN=hop-test-client,O=..." (RFC 2253 order).
std::string subject_line(X509* cert);

}  // namespace hop::tls
