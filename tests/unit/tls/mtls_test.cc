#include <gtest/gtest.h>

#include "tls_test_util.h"

using namespace hop;
using namespace hop::tls;
using namespace hop::tls::testing;

namespace {

std::shared_ptr<const ServerContext> mtls_server(bool required) {
  auto cfg = server_config();
  cfg.client_ca_file = cert_path("ca.pem");
  cfg.client_cert_required = required;
  std::string err;
  auto sc = ServerContext::create(cfg, true, std::make_shared<TicketKeyRing>(), err);
  EXPECT_TRUE(sc) << err;
  return sc;
}

std::shared_ptr<const ClientContext> client_with(const char* cert) {
  auto cfg = client_config();
  if (cert) {
    cfg.cert_file = cert_path(std::string(cert) + ".pem");
    cfg.key_file = cert_path(std::string(cert) + "-key.pem");
  }
  std::string err;
  auto cc = ClientContext::create(cfg, ClientAlpn::kHttp1, err);
  EXPECT_TRUE(cc) << err;
  return cc;
}

}  // namespace

TEST(TlsMutual, RequiredClientCertificateIsVerified) {
  auto sc = mtls_server(true);
  Conn c(*sc, *client_with("client"));
  ASSERT_TRUE(c.ok) << c.server->error();
  EXPECT_TRUE(c.server->peer_verified());
  EXPECT_EQ(c.server->peer_subject(), "CN=hop-test-client");
  EXPECT_TRUE(c.exchange());
}

TEST(TlsMutual, RequiredClientCertificateMissingFailsTheHandshake) {
  auto sc = mtls_server(true);
  Conn c(*sc, *client_with(nullptr));
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.server->error().find("peer did not return a certificate"), std::string::npos) << c.server->error();
}

TEST(TlsMutual, CertificateFromAnotherCaIsRejected) {
  auto sc = mtls_server(true);
  Conn c(*sc, *client_with("rogue-client"));
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.server->error().find("certificate verify failed"), std::string::npos) << c.server->error();
}

TEST(TlsMutual, OptionalClientCertificateMayBeAbsent) {
  auto sc = mtls_server(false);
  Conn none(*sc, *client_with(nullptr));
  ASSERT_TRUE(none.ok) << none.server->error();
  EXPECT_FALSE(none.server->peer_verified());
  EXPECT_EQ(none.server->peer_subject(), "");
  Conn good(*sc, *client_with("client"));
  ASSERT_TRUE(good.ok);
  EXPECT_TRUE(good.server->peer_verified());
  Conn rogue(*sc, *client_with("rogue-client"));  // presented but untrusted: still refused
  EXPECT_FALSE(rogue.ok);
}

TEST(TlsMutual, ServerSendsTheAcceptableCaNames) {
  auto sc = mtls_server(true);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  auto cc = client_with(nullptr);
  TlsStream s(sc->new_ssl(fds[0]));
  TlsStream c(cc->new_ssl(fds[1], "localhost", ""));
  for (int i = 0; i < 20; ++i) {
    c.handshake();
    s.handshake();
  }
  STACK_OF(X509_NAME)* names = SSL_get_client_CA_list(c.ssl());
  ASSERT_TRUE(names);
  EXPECT_EQ(sk_X509_NAME_num(names), 1);
  close(fds[0]);
  close(fds[1]);
}
