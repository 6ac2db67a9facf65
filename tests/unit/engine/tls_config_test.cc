#include <gtest/gtest.h>

#include <string>

#include "config/loader.h"

using namespace hop;

namespace {

const std::string kCerts = std::string(HOP_SOURCE_DIR) + "/examples/certs";

std::shared_ptr<const config::Config> load(const std::string& yaml, std::string& errors) {
  config::ConfigErrors errs("c.yaml");
  auto cfg = config::load_config_text(yaml, "c.yaml", kCerts, errs);
  errors = errs.to_string();
  return cfg;
}

std::string errors_of(const std::string& yaml) {
  std::string e;
  return load(yaml, e) ? "" : e;
}

// A TLS listener whose `tls:` body is `tls` (indented under it), plus a cluster.
std::string listener_with(const std::string& tls, const std::string& extra = "") {
  return "listeners:\n"
         "  - name: https\n"
         "    address: 127.0.0.1:8443\n"
         "    routes: [{cluster: a}]\n"
         "    tls:\n" + tls + extra +
         "clusters: [{name: a, hosts: ['127.0.0.1:81']}]\n";
}

std::string cluster_with(const std::string& body) {
  return "listeners: [{name: w, address: '127.0.0.1:80', routes: [{cluster: a}]}]\n"
         "clusters:\n"
         "  - name: a\n"
         "    hosts: ['127.0.0.1:81']\n" + body;
}

}  // namespace

TEST(TlsConfig, ReadsTheFullListenerSchema) {
  std::string e;
  auto cfg = load(listener_with("      certificates:\n"
                                "        - {cert: localhost.pem, key: localhost-key.pem}\n"
                                "        - {cert: other.pem, key: other-key.pem}\n"
                                "      alpn: [http/1.1, h2]\n"
                                "      min_version: \"1.3\"\n"
                                "      ciphers: ECDHE+AESGCM\n"
                                "      session_tickets: false\n"
                                "      ticket_key_rotation: 1h\n"
                                "      session_cache_size: 100\n"
                                "      session_lifetime: 2h\n"
                                "      client_ca: ca.pem\n"
                                "      client_cert: optional\n",
                                "    http2:\n"
                                "      enabled: false\n"
                                "      max_concurrent_streams: 64\n"
                                "      initial_stream_window: 256KiB\n"
                                "      connection_window: 4MiB\n"
                                "      max_header_list_size: 32KiB\n"
                                "      max_reset_burst: 200\n"
                                "      max_reset_rate: 10\n"
                                "      max_continuations: 4\n"
                                "      max_abusive_frames: 50\n"),
                  e);
  ASSERT_TRUE(cfg) << e;
  const auto& l = cfg->listeners[0];
  ASSERT_TRUE(l.tls);
  const auto& t = *l.tls;
  ASSERT_EQ(t.certificates.size(), 2u);
  EXPECT_EQ(t.certificates[0].cert_file, kCerts + "/localhost.pem");
  EXPECT_EQ(t.certificates[1].key_file, kCerts + "/other-key.pem");
  EXPECT_EQ(t.alpn, (std::vector<std::string>{"http/1.1", "h2"}));
  EXPECT_EQ(t.min_version, 0x0304);
  EXPECT_EQ(t.ciphers, "ECDHE+AESGCM");
  EXPECT_FALSE(t.session_tickets);
  EXPECT_EQ(t.ticket_key_rotation, std::chrono::hours(1));
  EXPECT_EQ(t.session_cache_size, 100u);
  EXPECT_EQ(t.session_lifetime, std::chrono::hours(2));
  EXPECT_EQ(t.client_ca_file, kCerts + "/ca.pem");
  EXPECT_FALSE(t.client_cert_required);
  EXPECT_FALSE(l.http2.enabled);
  EXPECT_EQ(l.http2.max_concurrent_streams, 64u);
  EXPECT_EQ(l.http2.initial_stream_window, 256u * 1024);
  EXPECT_EQ(l.http2.connection_window, 4u << 20);
  EXPECT_EQ(l.http2.max_header_list_size, 32u * 1024);
  EXPECT_EQ(l.http2.max_reset_burst, 200u);
  EXPECT_EQ(l.http2.max_reset_rate, 10u);
  EXPECT_EQ(l.http2.max_continuations, 4u);
  EXPECT_EQ(l.http2.max_abusive_frames, 50u);
}

TEST(TlsConfig, SingleCertAndKeyWithDefaults) {
  std::string e;
  auto cfg = load(listener_with("      cert: localhost.pem\n      key: localhost-key.pem\n"), e);
  ASSERT_TRUE(cfg) << e;
  const auto& t = *cfg->listeners[0].tls;
  ASSERT_EQ(t.certificates.size(), 1u);
  EXPECT_EQ(t.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(t.min_version, 0x0303);
  EXPECT_TRUE(t.session_tickets);
  EXPECT_TRUE(cfg->listeners[0].http2.enabled);
  EXPECT_TRUE(t.client_cert_required);
}

TEST(TlsConfig, ListenerWithoutTlsHasNone) {
  std::string e;
  auto cfg = load(cluster_with(""), e);
  ASSERT_TRUE(cfg) << e;
  EXPECT_FALSE(cfg->listeners[0].tls);
  EXPECT_EQ(cfg->clusters[0].protocol, config::UpstreamProtocol::kHttp1);
  EXPECT_FALSE(cfg->clusters[0].tls);
}

TEST(TlsConfig, NeedsACertificate) {
  auto e = errors_of(listener_with("      alpn: [h2]\n"));
  EXPECT_NE(e.find("c.yaml:6:7: tls needs at least one certificate"), std::string::npos) << e;
  e = errors_of(listener_with("      certificates: []\n"));
  EXPECT_NE(e.find("c.yaml:6:21: tls needs at least one certificate"), std::string::npos) << e;
  e = errors_of(listener_with("      cert: localhost.pem\n"));
  EXPECT_NE(e.find("certificate needs a key"), std::string::npos) << e;
}

TEST(TlsConfig, ReportsAMissingCertificateFileAtItsNode) {
  auto e = errors_of(listener_with("      certificates:\n        - {cert: nope.pem, key: localhost-key.pem}\n"));
  EXPECT_NE(e.find("c.yaml:7:18: cannot read " + kCerts + "/nope.pem: No such file or directory"), std::string::npos)
      << e;
}

TEST(TlsConfig, ReportsAMissingKeyAtTheKeyNode) {
  auto e = errors_of(listener_with("      cert: localhost.pem\n      key: missing-key.pem\n"));
  EXPECT_NE(e.find("c.yaml:7:12: cannot read " + kCerts + "/missing-key.pem"), std::string::npos) << e;
}

TEST(TlsConfig, ReportsAKeyThatDoesNotMatch) {
  auto e = errors_of(listener_with("      cert: localhost.pem\n      key: other-key.pem\n"));
  EXPECT_NE(e.find("c.yaml:7:12: " + kCerts + "/other-key.pem does not match the certificate in " + kCerts +
                   "/localhost.pem"),
            std::string::npos)
      << e;
}

TEST(TlsConfig, RejectsUnknownAlpnVersionsAndClientCertModes) {
  auto e = errors_of(listener_with("      cert: localhost.pem\n      key: localhost-key.pem\n"
                                   "      alpn: [h2, spdy/3]\n      min_version: \"1.1\"\n"
                                   "      client_cert: maybe\n      ciphers: NOTACIPHER\n"));
  EXPECT_NE(e.find("c.yaml:8:18: unknown ALPN protocol 'spdy/3' (h2, http/1.1)"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:9:20: min_version is \"1.2\" or \"1.3\""), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:10:20: client_cert is required or optional"), std::string::npos) << e;
  EXPECT_NE(e.find("client_cert needs client_ca"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:11:16: no usable cipher in 'NOTACIPHER'"), std::string::npos) << e;
}

TEST(TlsConfig, ChecksTheClientCaFile) {
  auto e = errors_of(listener_with("      cert: localhost.pem\n      key: localhost-key.pem\n      client_ca: README.md\n"));
  EXPECT_NE(e.find("c.yaml:8:18: " + kCerts + "/README.md holds no PEM certificate"), std::string::npos) << e;
}

TEST(TlsConfig, RejectsHttp2LimitsOutsideTheProtocolRange) {
  auto e = errors_of(listener_with("      cert: localhost.pem\n      key: localhost-key.pem\n",
                                   "    http2:\n      initial_stream_window: 2GiB\n      connection_window: 1000\n"
                                   "      max_concurrent_streams: 0\n      bogus: 1\n"));
  EXPECT_NE(e.find("c.yaml:9:30: initial_stream_window must be between 65535 and 2147483647 bytes"), std::string::npos)
      << e;
  EXPECT_NE(e.find("c.yaml:10:26: connection_window must be between 65535"), std::string::npos) << e;
  EXPECT_NE(e.find("c.yaml:11:31:"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'bogus'"), std::string::npos) << e;
}

TEST(TlsConfig, ClusterTlsMapAndProtocol) {
  std::string e;
  auto cfg = load(cluster_with("    protocol: h2\n"
                               "    tls: {sni: api.internal, verify: false, ca: ca.pem, cert: client.pem, key: client-key.pem, "
                               "min_version: \"1.3\"}\n"
                               "    http2: {max_concurrent_streams: 50}\n"),
                  e);
  ASSERT_TRUE(cfg) << e;
  const auto& c = cfg->clusters[0];
  EXPECT_EQ(c.protocol, config::UpstreamProtocol::kHttp2);
  EXPECT_STREQ(config::to_string(c.protocol), "h2");
  ASSERT_TRUE(c.tls);
  EXPECT_EQ(c.tls->sni, "api.internal");
  EXPECT_FALSE(c.tls->verify);
  EXPECT_EQ(c.tls->ca_file, kCerts + "/ca.pem");
  EXPECT_EQ(c.tls->cert_file, kCerts + "/client.pem");
  EXPECT_EQ(c.tls->key_file, kCerts + "/client-key.pem");
  EXPECT_EQ(c.tls->min_version, 0x0304);
  EXPECT_EQ(c.http2.max_concurrent_streams, 50u);
  EXPECT_EQ(c.http2.ping_interval.count(), 0);  // keepalive off unless asked for
}

TEST(TlsConfig, ClusterTlsTrueOrEmptyMeansSystemCas) {
  for (const char* form : {"    tls: true\n", "    tls: {}\n"}) {
    std::string e;
    auto cfg = load(cluster_with(std::string("    protocol: auto\n") + form), e);
    ASSERT_TRUE(cfg) << form << e;
    ASSERT_TRUE(cfg->clusters[0].tls) << form;
    EXPECT_TRUE(cfg->clusters[0].tls->verify);
    EXPECT_EQ(cfg->clusters[0].tls->ca_file, "");
  }
  std::string e;
  auto cfg = load(cluster_with("    tls: false\n"), e);
  ASSERT_TRUE(cfg) << e;
  EXPECT_FALSE(cfg->clusters[0].tls);
}

TEST(TlsConfig, ClusterProtocolAndTlsMustAgree) {
  auto e = errors_of(cluster_with("    protocol: h2\n"));
  EXPECT_NE(e.find("c.yaml:5:15: protocol h2 needs tls"), std::string::npos) << e;
  e = errors_of(cluster_with("    protocol: auto\n"));
  EXPECT_NE(e.find("protocol auto needs tls"), std::string::npos) << e;
  e = errors_of(cluster_with("    protocol: h2c\n    tls: true\n"));
  EXPECT_NE(e.find("c.yaml:6:10: protocol h2c is cleartext"), std::string::npos) << e;
  e = errors_of(cluster_with("    protocol: spdy\n"));
  EXPECT_NE(e.find("c.yaml:5:15: unknown protocol 'spdy' (h1, h2, h2c, auto)"), std::string::npos) << e;
  e = errors_of(cluster_with("    http2: {max_concurrent_streams: 10}\n"));
  EXPECT_NE(e.find("http2 settings need protocol h2, h2c or auto"), std::string::npos) << e;
  EXPECT_EQ(errors_of(cluster_with("    protocol: h2c\n    http2: {max_concurrent_streams: 10}\n")), "");
}

TEST(TlsConfig, ClusterHttp2KeepaliveIsReadAndBounded) {
  std::string e;
  auto cfg = load(cluster_with("    protocol: h2c\n    http2: {ping_interval: 30s, ping_timeout: 2s}\n"), e);
  ASSERT_TRUE(cfg) << e;
  EXPECT_EQ(cfg->clusters[0].http2.ping_interval.count(), 30000);
  EXPECT_EQ(cfg->clusters[0].http2.ping_timeout.count(), 2000);
  e = errors_of(cluster_with("    protocol: h2c\n    http2: {ping_interval: 10ms}\n"));
  EXPECT_NE(e.find("c.yaml:6:28: ping_interval must be 0s (off) or at least 1s"), std::string::npos) << e;
  e = errors_of(cluster_with("    protocol: h2c\n    http2: {ping_interval: 5s, ping_timeout: 0s}\n"));
  EXPECT_NE(e.find("ping_timeout must be at least 100ms"), std::string::npos) << e;
  e = errors_of(cluster_with("    protocol: h2c\n    http2: {ping_interval: 5}\n"));
  EXPECT_NE(e.find("c.yaml:6:28: expected a duration"), std::string::npos) << e;  // a bare number: no unit is guessed
  EXPECT_EQ(errors_of(cluster_with("    protocol: h2c\n    http2: {ping_interval: 0s}\n")), "");
}


TEST(TlsConfig, ClusterClientCertificateIsChecked) {
  auto e = errors_of(cluster_with("    tls: {cert: client.pem}\n"));
  EXPECT_NE(e.find("a client certificate needs both cert and key"), std::string::npos) << e;
  e = errors_of(cluster_with("    tls: {cert: client.pem, key: other-key.pem}\n"));
  EXPECT_NE(e.find("does not match the certificate"), std::string::npos) << e;
  e = errors_of(cluster_with("    tls: {ca: nothere.pem, sni: x, extra: 1}\n"));
  EXPECT_NE(e.find("cannot read " + kCerts + "/nothere.pem"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'extra'"), std::string::npos) << e;
}
