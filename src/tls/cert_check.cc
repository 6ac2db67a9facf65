#include "tls/cert_check.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

#include "tls/openssl_util.h"

namespace hop::tls {

namespace {

struct FileCloser {
  void operator()(FILE* f) const { fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// Never prompts for a passphrase: an encrypted key simply fails to load.
int no_password(char*, int, int, void*) { return 0; }

std::string time_text(const ASN1_TIME* t) {
  tm tm{};
  if (!ASN1_TIME_to_tm(t, &tm)) return "?";
  char buf[40];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string open_failure(const std::string& file) { return "cannot read " + file + ": " + strerror(errno); }

}  // namespace

std::string check_cert_pair(const std::string& cert_file, const std::string& key_file, CertFacts* facts) {
  File cf(fopen(cert_file.c_str(), "r"));
  if (!cf) return open_failure(cert_file);
  std::unique_ptr<X509, X509Free> cert(PEM_read_X509(cf.get(), nullptr, no_password, nullptr));
  ERR_clear_error();
  if (!cert) return cert_file + " holds no PEM certificate";
  File kf(fopen(key_file.c_str(), "r"));
  if (!kf) return open_failure(key_file);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_PrivateKey(kf.get(), nullptr, no_password, nullptr));
  ERR_clear_error();
  if (!key) return key_file + " holds no usable PEM private key (encrypted keys are not supported)";
  bool match = X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  if (!match) return key_file + " does not match the certificate in " + cert_file;

  const ASN1_TIME* not_after = X509_get0_notAfter(cert.get());
  const ASN1_TIME* not_before = X509_get0_notBefore(cert.get());
  if (facts) {
    facts->names = cert_names(cert.get());
    facts->subject = subject_line(cert.get());
    facts->not_after = time_text(not_after);
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, nullptr, not_after)) facts->seconds_left = days * 86400LL + secs;
  }
  if (X509_cmp_current_time(not_after) < 0) return cert_file + " expired on " + time_text(not_after);
  if (X509_cmp_current_time(not_before) > 0) return cert_file + " is not valid before " + time_text(not_before);
  return "";
}

std::string check_ca_file(const std::string& ca_file) {
  File f(fopen(ca_file.c_str(), "r"));
  if (!f) return open_failure(ca_file);
  int n = 0;
  while (X509* x = PEM_read_X509(f.get(), nullptr, no_password, nullptr)) {
    X509_free(x);
    ++n;
  }
  ERR_clear_error();
  if (n == 0) return ca_file + " holds no PEM certificate";
  return "";
}

std::string check_cipher_list(const std::string& ciphers) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return "cannot create a TLS context";
  bool ok = SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) == 1;
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return ok ? "" : "no usable cipher in '" + ciphers + "' (an OpenSSL cipher list such as ECDHE+AESGCM)";
}

}  // namespace hop::tls
