#include "admin/admin_server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "http/h1_parser.h"
#include "http/status.h"

namespace hop::admin {

namespace {
constexpr size_t kMaxRequest = 8192;
constexpr core::Millis kTimeout{10000};
}  // namespace

class AdminServer::Connection final : public core::IoHandler {
 public:
  Connection(AdminServer& server, int fd)
      : server_(server), fd_(fd), timer_(server.loop_, [this] { close(); }) {
    server_.loop_.add(fd_, this);
    timer_.arm(kTimeout);
  }
  ~Connection() {
    server_.loop_.remove(fd_);
    ::close(fd_);
  }
  void on_io(uint32_t events) override {
    if (closed_) return;
    if (!responded_ && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) read_request();
    if (responded_) write_out();
  }
  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    server_.connections_.erase(this);
    Connection* self = this;
    server_.loop_.defer([self] { delete self; });
  }

 private:
  void read_request() {
    char buf[4096];
    bool eof = false;
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        if (in_.size() > kMaxRequest) return respond({431, "text/plain", "request too large\n"});
        continue;
      }
      if (n == 0) {
        eof = true;  // a client may send its request and its FIN together (nc -N, scripts)
        break;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return close();
    }
    http::RequestHead head;
    http::ParseError err;
    http::H1Limits limits;
    auto r = http::parse_request(in_.data(), in_.size(), limits, head, err);
    if (r == http::ParseResult::kIncomplete) {
      if (eof) close();
      return;
    }
    if (r == http::ParseResult::kError) return respond({err.status, "text/plain", std::string(err.reason) + "\n"});
    respond(server_.handler_(head.method, head.path), head.is_head);
  }
  // Every status the admin answers (200, 404, 405, 503, the parser's 400, 414, 431, 501, 505) has a
  // registered reason phrase.
  void respond(const AdminResponse& resp, bool head_only = false) {
    std::string head = "HTTP/1.1 " + std::to_string(resp.status) + " " + std::string(http::reason_phrase(resp.status)) +
                       "\r\nContent-Type: " + resp.content_type +
                       "\r\nContent-Length: " + std::to_string(resp.body.size()) + "\r\nConnection: close\r\n\r\n";
    out_ = head_only ? head : head + resp.body;  // HEAD: the length of the body, not the body
    responded_ = true;
  }
  void write_out() {
    while (sent_ < out_.size()) {
      ssize_t n = ::send(fd_, out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
      if (n > 0) {
        sent_ += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      return close();
    }
    ::shutdown(fd_, SHUT_WR);
    close();
  }

  AdminServer& server_;
  int fd_;
  core::Timer timer_;
  std::string in_;
  std::string out_;
  size_t sent_ = 0;
  bool responded_ = false;
  bool closed_ = false;
};

AdminServer::AdminServer(core::EventLoop& loop, AdminHandler handler) : loop_(loop), handler_(std::move(handler)) {}

AdminServer::~AdminServer() {
  close_listener();
  for (auto* c : connections_) delete c;
}

bool AdminServer::listen(const core::Address& addr, std::string& error) {
  fd_ = core::listen_socket(addr, core::SocketKind::kStream, false, 128);
  if (fd_ < 0) {
    error = "admin " + addr.to_string() + ": " + strerror(errno);
    return false;
  }
  loop_.add(fd_, this, EPOLLIN | EPOLLET);
  return true;
}

void AdminServer::close_listener() {
  if (fd_ < 0) return;
  loop_.remove(fd_);
  ::close(fd_);
  fd_ = -1;
}

void AdminServer::on_io(uint32_t) {
  for (;;) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    if (connections_.size() >= 64) {  // bound: the admin port is not a load target
      ::close(fd);
      continue;
    }
    auto* c = new Connection(*this, fd);
    connections_.insert(c);
    c->on_io(EPOLLIN);
  }
}

}  // namespace hop::admin
