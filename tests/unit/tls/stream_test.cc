#include <gtest/gtest.h>

#include "tls_test_util.h"

using namespace hop;
using namespace hop::tls;
using namespace hop::tls::testing;

namespace {

struct Fixture : ::testing::Test {
  void SetUp() override {
    std::string err;
    sc = ServerContext::create(server_config(), true, std::make_shared<TicketKeyRing>(), err);
    ASSERT_TRUE(sc) << err;
    cc = ClientContext::create(client_config(), ClientAlpn::kHttp1, err);
    ASSERT_TRUE(cc) << err;
  }
  std::shared_ptr<const ServerContext> sc;
  std::shared_ptr<const ClientContext> cc;
};

using TlsStreamTest = Fixture;

}  // namespace

TEST_F(TlsStreamTest, ReadWithNothingSentWantsRead) {
  Conn c(*sc, *cc);
  ASSERT_TRUE(c.ok);
  char buf[16];
  EXPECT_EQ(c.server->read(buf, sizeof buf).status, IoStatus::kWantRead);
}

TEST_F(TlsStreamTest, WritevGathersSmallPiecesAndCarriesLargeOnes) {
  Conn c(*sc, *cc);
  ASSERT_TRUE(c.ok);
  std::string head = "HTTP/1.1 200 OK\r\ncontent-length: 300000\r\n\r\n";
  std::string body(300000, 'x');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  std::string tail = "\r\n";
  std::string expect = head + body + tail;

  std::string got;
  size_t sent = 0;
  char buf[16384];
  for (int i = 0; i < 100000 && got.size() < expect.size(); ++i) {
    if (sent < expect.size()) {
      // Rebuild the iovecs for what is left, as a connection would after a partial write.
      iovec v[3];
      int n = 0;
      size_t skip = sent;
      for (const std::string* s : {&head, &body, &tail}) {
        if (skip >= s->size()) {
          skip -= s->size();
          continue;
        }
        v[n++] = {const_cast<char*>(s->data() + skip), s->size() - skip};
        skip = 0;
      }
      auto w = c.server->writev(v, n);
      ASSERT_TRUE(w.status == IoStatus::kOk || w.status == IoStatus::kWantWrite) << c.server->error();
      sent += w.bytes;
    }
    for (;;) {
      auto r = c.client->read(buf, sizeof buf);
      if (r.status != IoStatus::kOk) break;
      got.append(buf, r.bytes);
    }
  }
  EXPECT_EQ(got.size(), expect.size());
  EXPECT_TRUE(got == expect);
}

TEST_F(TlsStreamTest, PendingReportsBytesBufferedInsideTheSession) {
  Conn c(*sc, *cc);
  ASSERT_TRUE(c.ok);
  std::string msg(1000, 'q');
  ASSERT_EQ(c.client->write(msg.data(), msg.size()).status, IoStatus::kOk);
  char buf[10];
  auto r = c.server->read(buf, sizeof buf);
  ASSERT_EQ(r.status, IoStatus::kOk);
  EXPECT_EQ(r.bytes, 10u);
  EXPECT_TRUE(c.server->pending());  // the rest of the record is decrypted already
}

TEST_F(TlsStreamTest, CloseNotifyIsEof) {
  Conn c(*sc, *cc);
  ASSERT_TRUE(c.ok);
  ASSERT_TRUE(c.exchange());
  c.client->shutdown();
  char buf[16];
  EXPECT_EQ(c.server->read(buf, sizeof buf).status, IoStatus::kEof);
}

TEST_F(TlsStreamTest, FinWithoutCloseNotifyIsEof) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  TlsStream s(sc->new_ssl(fds[0]));
  TlsStream c(cc->new_ssl(fds[1], "localhost", ""));
  for (int i = 0; i < 20; ++i) {
    c.handshake();
    s.handshake();
  }
  ASSERT_TRUE(s.handshake_done() && c.handshake_done());
  ::shutdown(fds[1], SHUT_WR);
  char buf[16];
  IoResult r{};
  for (int i = 0; i < 5; ++i)  // the client's tickets-ack-free TLS 1.3 stream may hold nothing else
    if ((r = s.read(buf, sizeof buf)).status != IoStatus::kWantRead) break;
  EXPECT_EQ(r.status, IoStatus::kEof) << s.error();
  close(fds[0]);
  close(fds[1]);
}

TEST_F(TlsStreamTest, GarbageIsAnErrorWithAReason) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  TlsStream s(sc->new_ssl(fds[0]));
  const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_GT(::write(fds[1], req, sizeof req - 1), 0);
  EXPECT_EQ(s.handshake(), IoStatus::kError);
  EXPECT_FALSE(s.error().empty());
  close(fds[0]);
  close(fds[1]);
}
