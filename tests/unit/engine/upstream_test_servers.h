// Peers for the upstream pool tests: nghttpd (Debian's nghttp2-server) as the reference
// HTTP/2 server, a scripted raw-frame HTTP/2 server for what nghttpd will not do on
// demand (refuse a stream, GOAWAY, drop the connection), and a blocking TLS server that
// speaks HTTP/1.1. Servers run on their own threads; the code under test runs on the
// test's EventLoop.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/event_loop.h"
#include "core/socket.h"

extern char** environ;

namespace hop::testing {

inline std::string cert_path(const std::string& name) { return std::string(HOP_SOURCE_DIR) + "/examples/certs/" + name; }

inline core::Address loopback(uint16_t port) { return *core::Address::parse("127.0.0.1:" + std::to_string(port)); }

// A listening socket on an ephemeral loopback port.
inline int listen_loopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 128) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// A port nothing listens on (bound, then closed).
inline uint16_t closed_port() {
  uint16_t port = 0;
  int fd = listen_loopback(port);
  ::close(fd);
  return port;
}

// Runs the loop until done() or the deadline; true when done() became true.
inline bool run_until(core::EventLoop& loop, const std::function<bool()>& done, int timeout_ms = 5000) {
  auto deadline = core::Clock::now() + core::Millis(timeout_ms);
  bool ok = false;
  core::Timer* self = nullptr;
  core::Timer tick(loop, [&] {
    if (done()) {
      ok = true;
      loop.stop();
    } else if (core::Clock::now() > deadline) {
      loop.stop();
    } else {
      self->arm(core::Millis(1));
    }
  });
  self = &tick;
  tick.arm(core::Millis(0));
  loop.run();
  return ok;
}

// ---- nghttpd ---------------------------------------------------------------------------

inline std::string nghttpd_path() {
  for (const char* p : {"/usr/sbin/nghttpd", "/usr/bin/nghttpd"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

class Nghttpd {
 public:
  // Serves `dir`; tls: h2 over TLS with the example localhost certificate, else h2c.
  Nghttpd(const std::string& dir, bool tls, std::vector<std::string> extra = {}) {
    std::string bin = nghttpd_path();
    if (bin.empty()) return;
    port_ = closed_port();
    std::vector<std::string> args = {bin, "-a", "127.0.0.1", "-d", dir};
    for (auto& e : extra) args.push_back(e);
    if (!tls) args.push_back("--no-tls");
    args.push_back(std::to_string(port_));
    if (tls) {
      args.push_back(cert_path("localhost-key.pem"));
      args.push_back(cert_path("localhost.pem"));
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    // Wait until it accepts.
    for (int i = 0; i < 200 && pid_ > 0; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      core::Address a = loopback(port_);
      bool up = ::connect(fd, a.sa(), a.len) == 0;
      ::close(fd);
      if (up) {
        ready_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~Nghttpd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st;
      ::waitpid(pid_, &st, 0);
    }
  }
  bool ready() const { return ready_; }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  bool ready_ = false;
};

// A directory of files for nghttpd, removed at the end.
class DocRoot {
 public:
  DocRoot() {
    char tmpl[] = "/tmp/hop-h2pool-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~DocRoot() { std::system(("rm -rf " + dir_).c_str()); }
  void add(const std::string& name, const std::string& body) { std::ofstream(dir_ + "/" + name) << body; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// ---- a scripted HTTP/2 server (raw frames) ---------------------------------------------

inline std::string frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  uint32_t len = static_cast<uint32_t>(payload.size());
  f += static_cast<char>(len >> 16);
  f += static_cast<char>(len >> 8);
  f += static_cast<char>(len);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += static_cast<char>((stream >> 24) & 0x7f);
  f += static_cast<char>(stream >> 16);
  f += static_cast<char>(stream >> 8);
  f += static_cast<char>(stream);
  f += payload;
  return f;
}
inline std::string u32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
constexpr uint8_t kData = 0, kHeaders = 1, kRst = 3, kSettings = 4, kGoaway = 7;
constexpr uint8_t kEndStream = 1, kEndHeaders = 4, kAck = 1;
// HPACK: ":status: 200" is static index 8; other statuses as a literal with name index 8.
inline std::string status_block(int status) {
  if (status == 200) return std::string("\x88", 1);
  std::string s = std::to_string(status);
  return std::string("\x08", 1) + static_cast<char>(s.size()) + s;
}

// A loopback listener whose connections one thread serves, one at a time: the base of the
// scripted servers below. A derived class calls start() last in its constructor and stop()
// first in its destructor (serve() uses the derived class's members).
class ServerThread {
 public:
  virtual ~ServerThread() = default;
  uint16_t port() const { return port_; }
  int connections() const { return connections_; }

 protected:
  virtual void serve() = 0;
  void start() {
    lfd_ = listen_loopback(port_);
    thread_ = std::thread([this] { serve(); });
  }
  void stop() {
    stop_ = true;
    thread_.join();
    ::close(lfd_);
  }
  // The next connection (counted in connections()), or -1 once stop() was called.
  int accept_next() {
    while (!stop_) {
      pollfd p{lfd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      int fd = ::accept(lfd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      return fd;
    }
    return -1;
  }

  std::atomic<bool> stop_{false};

 private:
  int lfd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// Accepts connections one at a time; for every request HEADERS a client sends, `on_request`
// returns the bytes to answer with ("" = none; "CLOSE" = drop the connection).
class ScriptedH2Server : public ServerThread {
 public:
  using Script = std::function<std::string(uint32_t stream, int nth_request)>;
  explicit ScriptedH2Server(Script script) : script_(std::move(script)) { start(); }
  ~ScriptedH2Server() override { stop(); }

 private:
  void serve() override {
    int nth = 0;
    for (int fd; (fd = accept_next()) >= 0;) {
      std::string out = frame(kSettings, 0, 0, "");
      ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      std::string in;
      bool preface = false;
      bool open = true;
      while (open && !stop_) {
        pollfd q{fd, POLLIN, 0};
        if (::poll(&q, 1, 10) <= 0) continue;
        char buf[16384];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        if (!preface) {
          if (in.size() < 24) continue;
          in.erase(0, 24);
          preface = true;
        }
        while (in.size() >= 9) {
          size_t len = (static_cast<uint8_t>(in[0]) << 16) | (static_cast<uint8_t>(in[1]) << 8) | static_cast<uint8_t>(in[2]);
          if (in.size() < 9 + len) break;
          uint8_t type = static_cast<uint8_t>(in[3]), flags = static_cast<uint8_t>(in[4]);
          uint32_t stream = ((static_cast<uint8_t>(in[5]) & 0x7f) << 24) | (static_cast<uint8_t>(in[6]) << 16) |
                            (static_cast<uint8_t>(in[7]) << 8) | static_cast<uint8_t>(in[8]);
          in.erase(0, 9 + len);
          std::string reply;
          if (type == kSettings && !(flags & kAck)) reply = frame(kSettings, kAck, 0, "");
          if (type == kHeaders) reply = script_(stream, nth++);
          if (reply == "CLOSE") {
            open = false;
            break;
          }
          if (!reply.empty()) ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
        }
      }
      ::close(fd);
    }
  }

  Script script_;
};

// ---- a TLS server speaking HTTP/1.1 ----------------------------------------------------

// Answers every request head with "hello" (keep-alive); ALPN: selects http/1.1 when the
// client offers it, otherwise none.
class TlsH1Server : public ServerThread {
 public:
  TlsH1Server() {
    ::signal(SIGPIPE, SIG_IGN);  // SSL_write to a client that left must not end the test
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_chain_file(ctx_, cert_path("localhost.pem").c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, cert_path("localhost-key.pem").c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_set_alpn_select_cb(
        ctx_,
        [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
           void*) -> int {
          static const unsigned char h1[] = "\x08http/1.1";
          unsigned char* o;
          if (SSL_select_next_proto(&o, outlen, h1, 9, in, inlen) != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
          *out = o;
          return SSL_TLSEXT_ERR_OK;
        },
        nullptr);
    start();
  }
  ~TlsH1Server() override {
    stop();
    SSL_CTX_free(ctx_);
  }
  int requests() const { return requests_; }

 private:
  void serve() override {
    for (int fd; (fd = accept_next()) >= 0;) {
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        std::string in;
        while (!stop_) {
          pollfd q{fd, POLLIN, 0};
          if (!SSL_pending(ssl) && ::poll(&q, 1, 10) <= 0) continue;
          char buf[4096];
          int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) break;
          in.append(buf, static_cast<size_t>(n));
          size_t end;
          while ((end = in.find("\r\n\r\n")) != std::string::npos) {
            in.erase(0, end + 4);
            ++requests_;
            static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
            SSL_write(ssl, resp, sizeof resp - 1);
          }
        }
      }
      SSL_free(ssl);
      ::close(fd);
    }
  }

  SSL_CTX* ctx_ = nullptr;
  std::atomic<int> requests_{0};
};

}  // namespace hop::testing
