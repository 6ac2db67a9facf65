#include <gtest/gtest.h>

#include "tls_test_util.h"

using namespace hop;
using namespace hop::tls;
using namespace hop::tls::testing;

namespace {

std::shared_ptr<const ServerContext> server(std::shared_ptr<TicketKeyRing> ring,
                                            ServerConfig cfg = server_config()) {
  std::string err;
  auto sc = ServerContext::create(cfg, true, std::move(ring), err);
  EXPECT_TRUE(sc) << err;
  return sc;
}

std::shared_ptr<const ClientContext> client() {
  std::string err;
  auto cc = ClientContext::create(client_config(), ClientAlpn::kH2OrHttp1, err);
  EXPECT_TRUE(cc) << err;
  return cc;
}

// A full handshake plus a round trip, so the client holds a ticket for the next one.
void prime(const ServerContext& sc, const ClientContext& cc) {
  Conn c(sc, cc);
  ASSERT_TRUE(c.ok);
  EXPECT_FALSE(c.server->resumed());
  ASSERT_TRUE(c.exchange());
}

bool resumes(const ServerContext& sc, const ClientContext& cc) {
  Conn c(sc, cc);
  EXPECT_TRUE(c.ok) << c.server->error() << c.client->error();
  bool r = c.server->resumed();
  EXPECT_EQ(r, c.client->resumed());
  c.exchange();
  return r;
}

}  // namespace

TEST(TlsSessions, TicketFromOneContextResumesOnAnotherSharingTheRing) {
  auto ring = std::make_shared<TicketKeyRing>();
  auto a = server(ring), b = server(ring);  // two workers, or before and after a reload
  auto cc = client();
  prime(*a, *cc);
  EXPECT_TRUE(resumes(*b, *cc));
}

TEST(TlsSessions, TicketFromAnotherRingDoesNotResume) {
  auto a = server(std::make_shared<TicketKeyRing>()), b = server(std::make_shared<TicketKeyRing>());
  auto cc = client();
  prime(*a, *cc);
  EXPECT_FALSE(resumes(*b, *cc));
}

TEST(TlsSessions, TicketUnderThePreviousKeyStillResumes) {
  auto ring = std::make_shared<TicketKeyRing>();
  auto sc = server(ring);
  auto cc = client();
  prime(*sc, *cc);
  ring->rotate();
  EXPECT_EQ(ring->size(), 2u);
  EXPECT_TRUE(resumes(*sc, *cc));
}

TEST(TlsSessions, TicketWhoseKeyAgedOutGetsAFullHandshake) {
  auto ring = std::make_shared<TicketKeyRing>(3);
  auto sc = server(ring);
  auto cc = client();
  prime(*sc, *cc);
  for (int i = 0; i < 3; ++i) ring->rotate();
  EXPECT_EQ(ring->size(), 3u);
  EXPECT_FALSE(resumes(*sc, *cc));
  EXPECT_TRUE(resumes(*sc, *cc));  // and the new ticket works
}

TEST(TlsSessions, ResumesWhicheverCertificateSniChose) {
  auto ring = std::make_shared<TicketKeyRing>();
  auto sc = server(ring, server_config({"localhost", "other"}));
  auto cc = client();
  {
    Conn c(*sc, *cc, "other.test");
    ASSERT_TRUE(c.ok);
    ASSERT_TRUE(c.exchange());
  }
  Conn again(*sc, *cc, "other.test");
  ASSERT_TRUE(again.ok);
  EXPECT_TRUE(again.server->resumed());
}

TEST(TlsSessions, ResumesOverTls12WithTickets) {
  auto ring = std::make_shared<TicketKeyRing>();
  auto sc = server(ring);
  std::string err;
  auto ccfg = client_config();
  auto cc = ClientContext::create(ccfg, ClientAlpn::kH2OrHttp1, err);
  ASSERT_TRUE(cc);
  auto run = [&] {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    TlsStream s(sc->new_ssl(fds[0]));
    SSL* ssl = cc->new_ssl(fds[1], "localhost", "");
    SSL_set_max_proto_version(ssl, 0x0303);
    TlsStream c(ssl);
    for (int i = 0; i < 50 && !(c.handshake_done() && s.handshake_done()); ++i) {
      c.handshake();
      s.handshake();
    }
    EXPECT_TRUE(c.handshake_done() && s.handshake_done());
    EXPECT_STREQ(c.version(), "TLSv1.2");
    bool r = s.resumed();
    close(fds[0]);
    close(fds[1]);
    return r;
  };
  EXPECT_FALSE(run());
  EXPECT_TRUE(run());
  ring->rotate();
  EXPECT_TRUE(run());
}

TEST(TlsSessions, TicketsOffMeansNoStatelessResumptionAcrossContexts) {
  auto ring = std::make_shared<TicketKeyRing>();
  auto cfg = server_config();
  cfg.session_tickets = false;
  auto a = server(ring, cfg), b = server(ring, cfg);
  auto cc = client();
  prime(*a, *cc);
  EXPECT_FALSE(resumes(*b, *cc));  // b's session cache never saw a's session
}

TEST(TlsSessions, ChangingClientVerificationInvalidatesSessions) {
  auto ring = std::make_shared<TicketKeyRing>();
  auto plain = server(ring);
  auto cfg = server_config();
  cfg.client_ca_file = cert_path("ca.pem");
  cfg.client_cert_required = false;
  auto mtls = server(ring, cfg);
  auto cc = client();
  prime(*plain, *cc);
  EXPECT_FALSE(resumes(*mtls, *cc));
}

TEST(TlsTicketKeyRing, RotatesAndForgets) {
  TicketKeyRing ring(2);
  TicketKey first = ring.current();
  TicketKey k;
  bool current = false;
  ASSERT_TRUE(ring.find(first.name.data(), k, current));
  EXPECT_TRUE(current);
  ring.rotate();
  EXPECT_NE(ring.current().name, first.name);
  ASSERT_TRUE(ring.find(first.name.data(), k, current));
  EXPECT_FALSE(current);
  EXPECT_EQ(k.aes_key, first.aes_key);
  ring.rotate();
  EXPECT_FALSE(ring.find(first.name.data(), k, current));
  EXPECT_EQ(ring.size(), 2u);
}
