#include "health/health_checker.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include <fmt/format.h>

namespace hop::health {

namespace {
// A status line fits in far less; anything longer is not the HTTP server we expect, and the
// bound stops a misbehaving target from making the checker buffer without limit.
constexpr size_t kMaxResponseBytes = 4096;

std::minstd_rand& jitter_rng() {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  return rng;
}

// "HTTP/1.1 200 OK" → 200; -1 when the line is not a status line.
int parse_status_line(std::string_view line) {
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1.") return -1;
  if (line[8] != ' ') return -1;
  int code = 0;
  for (int i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return -1;
    code = code * 10 + (line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') return -1;
  return code;
}
}  // namespace

struct HealthChecker::Probe final : core::IoHandler {
  enum class Phase { kIdle, kConnecting, kReading };

  Probe(HealthChecker& c, std::shared_ptr<HealthState> s)
      : checker(c),
        state(std::move(s)),
        interval_timer(c.loop_, [this] { checker.start_probe(*this); }),
        timeout_timer(c.loop_, [this] {
          checker.finish_probe(*this, false, fmt::format("timeout after {}ms", state->spec().timeout.count()));
        }) {
    const CheckSpec& spec = state->spec();
    if (spec.kind == CheckSpec::Kind::kHttp) {
      std::string host = spec.host.empty() ? state->target().to_string() : spec.host;
      request = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: hop-health\r\nConnection: close\r\n\r\n",
                            spec.method, spec.path, host);
    }
  }
  ~Probe() { close_fd(); }

  void close_fd() {
    if (fd >= 0) {
      checker.loop_.remove(fd);
      ::close(fd);
      fd = -1;
    }
  }

  void on_io(uint32_t events) override {
    if (phase == Phase::kConnecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = core::socket_error(fd);
      if (err != 0) {
        checker.finish_probe(*this, false, err == ECONNREFUSED ? "connect refused" : std::string("connect: ") + strerror(err));
        return;
      }
      if (state->spec().kind == CheckSpec::Kind::kTcp) {
        checker.finish_probe(*this, true, fmt::format("connected in {:.1f}ms", elapsed_ms()));
        return;
      }
      // The request is far smaller than any socket buffer, so one write either takes it all
      // or the peer is broken.
      ssize_t n = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
      if (n != static_cast<ssize_t>(request.size())) {
        checker.finish_probe(*this, false, std::string("send: ") + (n < 0 ? strerror(errno) : "short write"));
        return;
      }
      phase = Phase::kReading;
    }
    if (phase == Phase::kReading) read_response();
  }

  void read_response() {
    char buf[1024];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        size_t take = std::min(static_cast<size_t>(n), kMaxResponseBytes - response.size());
        response.append(buf, take);
        auto eol = response.find("\r\n");
        if (eol != std::string::npos) return judge(response.substr(0, eol));
        if (response.size() >= kMaxResponseBytes) return checker.finish_probe(*this, false, "status line too long");
        continue;
      }
      if (n == 0) return checker.finish_probe(*this, false, "closed before a status line");
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      return checker.finish_probe(*this, false, std::string("recv: ") + strerror(errno));
    }
  }

  void judge(const std::string& line) {
    int status = parse_status_line(line);
    if (status < 0) return checker.finish_probe(*this, false, "malformed status line");
    bool ok = false;
    for (auto [lo, hi] : state->spec().expected_statuses) ok |= (status >= lo && status <= hi);
    checker.finish_probe(*this, ok, fmt::format("{} in {:.1f}ms", status, elapsed_ms()));
  }

  double elapsed_ms() const { return core::ms_between(started, core::Clock::now()); }

  HealthChecker& checker;
  std::shared_ptr<HealthState> state;
  core::Timer interval_timer;
  core::Timer timeout_timer;
  std::string request;
  std::string response;
  core::TimePoint started{};
  Phase phase = Phase::kIdle;
  int fd = -1;
  bool retired = false;
};

HealthChecker::HealthChecker(core::EventLoop& control_loop) : loop_(control_loop) {}

HealthChecker::~HealthChecker() = default;

size_t HealthChecker::watched() const {
  size_t n = 0;
  for (const auto& p : probes_) n += !p->retired;
  return n;
}

std::shared_ptr<HealthState> HealthChecker::watch(const core::Address& target, const CheckSpec& spec) {
  for (auto& p : probes_) {
    if (!p->retired && p->state->target() == target && p->state->spec() == spec) return p->state;
  }
  auto state = std::make_shared<HealthState>(target, spec);
  probes_.push_back(std::make_unique<Probe>(*this, state));
  Probe& p = *probes_.back();
  // Watch is called by the control thread before its loop runs (start-up) or while it runs
  // (a reload); the first probe goes out on the next iteration, spread by jitter so a
  // reload of many hosts does not probe them all in the same millisecond.
  std::uniform_real_distribution<double> u(0.0, spec.jitter);
  p.interval_timer.arm(core::Millis(static_cast<int64_t>(spec.interval.count() * u(jitter_rng()))));
  return state;
}

void HealthChecker::schedule(Probe& p) {
  const CheckSpec& spec = p.state->spec();
  std::uniform_real_distribution<double> u(0.0, spec.jitter);
  auto stretch = static_cast<int64_t>(spec.interval.count() * u(jitter_rng()));
  p.interval_timer.arm(spec.interval + core::Millis(stretch));
}

void HealthChecker::start_probe(Probe& p) {
  // Only the checker still holds the state: every cluster and record that used it is gone.
  if (p.state.use_count() == 1) {
    p.retired = true;
    collect_unused();
    return;
  }
  p.started = core::Clock::now();
  p.response.clear();
  p.timeout_timer.arm(p.state->spec().timeout);
  p.fd = core::connect_socket(p.state->target());
  if (p.fd < 0) {
    int err = errno;
    finish_probe(p, false, err == ECONNREFUSED ? "connect refused" : std::string("connect: ") + strerror(err));
    return;
  }
  p.phase = Probe::Phase::kConnecting;
  if (!loop_.add(p.fd, &p)) finish_probe(p, false, std::string("epoll: ") + strerror(errno));
}

void HealthChecker::finish_probe(Probe& p, bool ok, std::string result) {
  p.timeout_timer.cancel();
  p.close_fd();
  p.phase = Probe::Phase::kIdle;
  p.response.clear();
  p.response.shrink_to_fit();
  p.state->record(ok, std::move(result), core::to_ms(p.started));
  schedule(p);
}

void HealthChecker::collect_unused() {
  // Deferred: the retiring probe's timer callback is still on the stack.
  loop_.defer([this] {
    std::erase_if(probes_, [](const std::unique_ptr<Probe>& p) { return p->retired; });
  });
}

}  // namespace hop::health
