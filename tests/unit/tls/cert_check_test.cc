#include "tls/cert_check.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "tls_test_util.h"

using namespace hop::tls;
using hop::tls::testing::cert_path;

namespace {

// A self-signed certificate valid from now+`from` to now+`to` seconds, written next to its
// key in a temporary folder.
struct TempCert {
  std::string dir, cert, key;
  TempCert(long from, long to) {
    char tmpl[] = "/tmp/hop-cert-XXXXXX";
    dir = mkdtemp(tmpl);
    cert = dir + "/c.pem";
    key = dir + "/k.pem";
    EVP_PKEY* pk = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, pk);
    X509_NAME* n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("old.test"), -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_sign(x, pk, EVP_sha256());
    FILE* f = fopen(cert.c_str(), "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key.c_str(), "w");
    PEM_write_PrivateKey(f, pk, nullptr, nullptr, 0, nullptr, nullptr);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
  }
  ~TempCert() { std::filesystem::remove_all(dir); }
};

}  // namespace

TEST(CertCheck, AcceptsTheExamplePairAndReportsItsFacts) {
  CertFacts f;
  EXPECT_EQ(check_cert_pair(cert_path("localhost.pem"), cert_path("localhost-key.pem"), &f), "");
  EXPECT_EQ(f.subject, "CN=localhost");
  for (const char* n : {"localhost", "127.0.0.1", "::1", "*.hop.test"})
    EXPECT_NE(std::find(f.names.begin(), f.names.end(), n), f.names.end()) << n;
  EXPECT_GT(f.seconds_left, 365LL * 86400);
  EXPECT_NE(f.not_after.find(" UTC"), std::string::npos) << f.not_after;
}

TEST(CertCheck, MissingFileSaysWhy) {
  EXPECT_EQ(check_cert_pair("/nonexistent/cert.pem", cert_path("localhost-key.pem")),
            "cannot read /nonexistent/cert.pem: No such file or directory");
  EXPECT_EQ(check_cert_pair(cert_path("localhost.pem"), "/nonexistent/key.pem"),
            "cannot read /nonexistent/key.pem: No such file or directory");
}

TEST(CertCheck, MismatchedKey) {
  auto cert = cert_path("localhost.pem"), key = cert_path("other-key.pem");
  EXPECT_EQ(check_cert_pair(cert, key), key + " does not match the certificate in " + cert);
}

TEST(CertCheck, NotPem) {
  auto readme = cert_path("README.md");
  EXPECT_EQ(check_cert_pair(readme, cert_path("localhost-key.pem")), readme + " holds no PEM certificate");
  EXPECT_NE(check_cert_pair(cert_path("localhost.pem"), readme).find("holds no usable PEM private key"),
            std::string::npos);
}

TEST(CertCheck, ExpiredCertificate) {
  TempCert t(-2 * 86400, -86400);
  CertFacts f;
  auto e = check_cert_pair(t.cert, t.key, &f);
  EXPECT_EQ(e.rfind(t.cert + " expired on ", 0), 0u) << e;
  EXPECT_NE(e.find(" UTC"), std::string::npos) << e;
  EXPECT_LT(f.seconds_left, 0);
}

TEST(CertCheck, NotYetValidCertificate) {
  TempCert t(86400, 2 * 86400);
  auto e = check_cert_pair(t.cert, t.key);
  EXPECT_EQ(e.rfind(t.cert + " is not valid before ", 0), 0u) << e;
}

TEST(CertCheck, CaFile) {
  EXPECT_EQ(check_ca_file(cert_path("ca.pem")), "");
  EXPECT_EQ(check_ca_file("/nonexistent/ca.pem"), "cannot read /nonexistent/ca.pem: No such file or directory");
  auto readme = cert_path("README.md");
  EXPECT_EQ(check_ca_file(readme), readme + " holds no PEM certificate");
}
