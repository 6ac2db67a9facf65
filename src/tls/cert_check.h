// What `hop check` and the config loader verify about certificate files before a listener
// or cluster uses them: readable, parseable, the key matches the certificate, not expired
// (and not yet valid).
#pragma once

#include <string>
#include <vector>

namespace hop::tls {

struct CertFacts {
  std::vector<std::string> names;  // subjectAltName DNS and IP entries
  std::string subject;
  std::string not_after;           // "2027-11-29 10:00:00 UTC"
  long long seconds_left = 0;      // negative = expired
};

// "" when the pair is usable, else the problem: "cannot read cert.pem: No such file or
// directory", "key.pem does not match the certificate in cert.pem", "cert.pem expired on
// 2026-01-01 00:00:00 UTC", "cert.pem is not valid before ...".
std::string check_cert_pair(const std::string& cert_file, const std::string& key_file, CertFacts* facts = nullptr);
// "" when the file holds at least one parseable CA certificate.
std::string check_ca_file(const std::string& ca_file);
// "" when OpenSSL accepts `ciphers` as a TLS 1.2 cipher list with at least one cipher.
std::string check_cipher_list(const std::string& ciphers);

}  // namespace hop::tls
