#include <gtest/gtest.h>

#include "tls_test_util.h"

using namespace hop;
using namespace hop::tls;
using namespace hop::tls::testing;

namespace {

std::shared_ptr<const ServerContext> server(const ServerConfig& cfg, bool offer_h2 = true) {
  std::string err;
  auto sc = ServerContext::create(cfg, offer_h2, std::make_shared<TicketKeyRing>(), err);
  EXPECT_TRUE(sc) << err;
  return sc;
}

std::shared_ptr<const ClientContext> client(const ClientConfig& cfg,
                                            ClientAlpn p = ClientAlpn::kH2OrHttp1) {
  std::string err;
  auto cc = ClientContext::create(cfg, p, err);
  EXPECT_TRUE(cc) << err;
  return cc;
}

}  // namespace

TEST(TlsHandshake, NegotiatesH2WhenBothOfferIt) {
  auto sc = server(server_config());
  auto cc = client(client_config(), ClientAlpn::kH2OrHttp1);
  Conn c(*sc, *cc);
  ASSERT_TRUE(c.ok) << c.client->error() << " / " << c.server->error();
  EXPECT_EQ(c.server->alpn(), "h2");
  EXPECT_EQ(c.client->alpn(), "h2");
  EXPECT_STREQ(c.server->version(), "TLSv1.3");
  EXPECT_TRUE(c.client->peer_verified());
  EXPECT_EQ(c.client->peer_subject(), "CN=localhost");
  EXPECT_FALSE(c.server->peer_verified());
  EXPECT_TRUE(c.exchange());
}

TEST(TlsHandshake, NegotiatesHttp11ForAnHttp1Cluster) {
  auto sc = server(server_config());
  auto cc = client(client_config(), ClientAlpn::kHttp1);
  Conn c(*sc, *cc);
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.server->alpn(), "http/1.1");
}

TEST(TlsHandshake, ListenerWithoutH2PicksHttp11) {
  auto sc = server(server_config(), /*offer_h2=*/false);
  auto cc = client(client_config(), ClientAlpn::kH2OrHttp1);
  Conn c(*sc, *cc);
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.server->alpn(), "http/1.1");
}

TEST(TlsHandshake, NoCommonProtocolMeansNoAlpnRatherThanFailure) {
  auto sc = server(server_config(), /*offer_h2=*/false);
  auto cc = client(client_config(), ClientAlpn::kH2);
  Conn c(*sc, *cc);
  ASSERT_TRUE(c.ok) << c.server->error();
  EXPECT_EQ(c.server->alpn(), "");
  EXPECT_EQ(c.client->alpn(), "");
}

TEST(TlsHandshake, HonoursMinimumVersion) {
  auto cfg = server_config();
  cfg.min_version = 0x0304;
  auto sc = server(cfg);
  auto ccfg = client_config();
  auto cc = client(ccfg);
  Conn ok(*sc, *cc);
  EXPECT_TRUE(ok.ok);

  // A client that cannot go above TLS 1.2 is refused.
  std::string err;
  auto old = ClientContext::create(ccfg, ClientAlpn::kHttp1, err);
  ASSERT_TRUE(old);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  TlsStream s(sc->new_ssl(fds[0]));
  SSL* cs = old->new_ssl(fds[1], "localhost", "");
  SSL_set_max_proto_version(cs, 0x0303);
  TlsStream c(cs);
  bool failed = false;
  for (int i = 0; i < 50 && !failed; ++i)
    failed = c.handshake() == IoStatus::kError || s.handshake() == IoStatus::kError;
  EXPECT_TRUE(failed);
  close(fds[0]);
  close(fds[1]);
}

TEST(TlsHandshake, SniPicksTheMatchingCertificate) {
  auto sc = server(server_config({"localhost", "other"}));
  auto cc = client(client_config());
  Conn c(*sc, *cc, "other.test");
  ASSERT_TRUE(c.ok) << c.client->error();
  EXPECT_EQ(c.server->server_name(), "other.test");
  EXPECT_EQ(c.client->peer_subject(), "CN=other.test");
  EXPECT_EQ(c.server->alpn(), "h2");  // the switched-to context selects ALPN too
}

TEST(TlsHandshake, SniMatchesOneLabelWildcards) {
  auto sc = server(server_config({"other", "localhost"}));  // other.test is the default here
  auto cc = client(client_config());
  Conn wild(*sc, *cc, "api.hop.test");
  ASSERT_TRUE(wild.ok) << wild.client->error();
  EXPECT_EQ(wild.client->peer_subject(), "CN=localhost");

  ClientConfig no_verify = client_config();
  no_verify.verify = false;
  auto loose = client(no_verify);
  Conn deep(*sc, *loose, "a.b.hop.test");  // two labels: not covered, so the default
  ASSERT_TRUE(deep.ok);
  EXPECT_EQ(deep.client->peer_subject(), "CN=other.test");
}

TEST(TlsHandshake, UnknownOrMissingSniGetsTheDefaultCertificate) {
  auto sc = server(server_config({"localhost", "other"}));
  auto ccfg = client_config();
  ccfg.verify = false;
  auto cc = client(ccfg);
  Conn unknown(*sc, *cc, "nothing.example");
  ASSERT_TRUE(unknown.ok);
  EXPECT_EQ(unknown.client->peer_subject(), "CN=localhost");
  Conn none(*sc, *cc, "", "127.0.0.1");
  ASSERT_TRUE(none.ok);
  EXPECT_EQ(none.server->server_name(), "");
  EXPECT_EQ(none.client->peer_subject(), "CN=localhost");
}

TEST(TlsHandshake, IpHostIsVerifiedAgainstIpSansWithoutSni) {
  auto sc = server(server_config());
  auto cc = client(client_config());
  Conn v4(*sc, *cc, "", "127.0.0.1");
  ASSERT_TRUE(v4.ok) << v4.client->error();
  EXPECT_EQ(v4.server->server_name(), "");
  EXPECT_TRUE(v4.client->peer_verified());
  Conn v6(*sc, *cc, "", "::1");
  EXPECT_TRUE(v6.ok) << v6.client->error();
  Conn wrong(*sc, *cc, "", "10.0.0.1");
  EXPECT_FALSE(wrong.ok);
}

TEST(TlsHandshake, ClusterSniOverridesTheHostName) {
  auto sc = server(server_config({"localhost", "other"}));
  auto ccfg = client_config();
  ccfg.sni = "other.test";
  auto cc = client(ccfg);
  Conn c(*sc, *cc, "localhost", "127.0.0.1");
  ASSERT_TRUE(c.ok) << c.client->error();
  EXPECT_EQ(c.server->server_name(), "other.test");
}

TEST(TlsHandshake, ClientRejectsAnUntrustedChain) {
  auto sc = server(server_config());
  auto ccfg = client_config();
  ccfg.ca_file = cert_path("other.pem");  // a leaf, not the issuer of localhost.pem
  auto cc = client(ccfg);
  Conn c(*sc, *cc);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.client->error().find("certificate verify failed"), std::string::npos) << c.client->error();
}

TEST(TlsHandshake, ClientRejectsTheWrongName) {
  auto sc = server(server_config());
  auto cc = client(client_config());
  Conn c(*sc, *cc, "wrong.example");
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.client->error().find("certificate verify failed"), std::string::npos) << c.client->error();
  EXPECT_NE(c.client->error().find("hostname mismatch"), std::string::npos) << c.client->error();
}

TEST(TlsHandshake, VerifyOffAcceptsAnyCertificate) {
  auto sc = server(server_config());
  auto ccfg = client_config();
  ccfg.ca_file = cert_path("other.pem");
  ccfg.verify = false;
  auto cc = client(ccfg);
  Conn c(*sc, *cc, "wrong.example");
  EXPECT_TRUE(c.ok) << c.client->error();
}

TEST(TlsHandshake, CreateReportsBadFiles) {
  std::string err;
  ServerConfig cfg;
  EXPECT_FALSE(ServerContext::create(cfg, true, nullptr, err));
  cfg.certificates.push_back({cert_path("localhost.pem"), cert_path("other-key.pem")});
  EXPECT_FALSE(ServerContext::create(cfg, true, nullptr, err));
  EXPECT_NE(err.find("does not match"), std::string::npos) << err;
  auto ccfg = client_config();
  ccfg.ca_file = "/nonexistent/ca.pem";
  EXPECT_FALSE(ClientContext::create(ccfg, ClientAlpn::kHttp1, err));
  EXPECT_NE(err.find("cannot read /nonexistent/ca.pem"), std::string::npos) << err;
}
