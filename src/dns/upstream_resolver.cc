#include "dns/upstream_resolver.h"

#include <ares.h>
#include <netinet/in.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

namespace hop::dns {

namespace {
constexpr uint32_t kLevelTriggeredIn = EPOLLIN;
constexpr uint32_t kLevelTriggeredInOut = EPOLLIN | EPOLLOUT;
}  // namespace

struct UpstreamResolver::Watch {
  Watch(core::EventLoop& loop, std::function<void()> fire) : refresh(loop, std::move(fire)) {}
  uint64_t id = 0;
  std::string name;
  uint16_t port = 0;
  OnChange on_change;
  std::vector<core::Address> addresses;
  bool have_answer = false;
  bool in_flight = false;
  bool stale = false;
  uint64_t resolutions = 0, failures = 0;
  core::Timer refresh;
};

// The c-ares channel and the sockets it asks the loop to watch. c-ares sockets are
// registered level-triggered: ares_process_fd reads one datagram at a time.
struct UpstreamResolver::Channel {
  struct Socket final : core::IoHandler {
    Channel* ch = nullptr;
    int fd = -1;
    void on_io(uint32_t events) override {
      if (!ch) return;  // retired: c-ares closed it earlier in this iteration
      ares_socket_t r = (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd : ARES_SOCKET_BAD;
      ares_socket_t w = (events & EPOLLOUT) ? fd : ARES_SOCKET_BAD;
      Channel* channel = ch;  // ares_process_fd may close this socket and retire *this
      ares_process_fd(channel->channel, r, w);
      channel->arm_timeout();
    }
  };

  explicit Channel(core::EventLoop& l) : loop(l), timeout_timer(l, [this] {
    ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    arm_timeout();
  }) {}
  ~Channel() {
    if (channel) ares_destroy(channel);  // runs pending callbacks with ARES_EDESTRUCTION
    for (auto& [fd, s] : sockets) loop.remove(fd);
  }

  static void sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* ch = static_cast<Channel*>(data);
    auto it = ch->sockets.find(fd);
    if (!readable && !writable) {
      if (it != ch->sockets.end()) {
        ch->loop.remove(fd);
        // Destroyed after this loop iteration: its on_io may be on the stack, and epoll may
        // still hold an event for it in the current batch.
        std::shared_ptr<Socket> retired(std::move(it->second));
        retired->ch = nullptr;
        ch->sockets.erase(it);
        ch->loop.defer([retired] {});
      }
      return;
    }
    uint32_t events = writable ? kLevelTriggeredInOut : kLevelTriggeredIn;
    if (it == ch->sockets.end()) {
      auto s = std::make_unique<Socket>();
      s->ch = ch;
      s->fd = fd;
      ch->loop.add(fd, s.get(), events);
      ch->sockets.emplace(fd, std::move(s));
    } else {
      ch->loop.modify(fd, it->second.get(), events);
    }
  }

  void arm_timeout() {
    timeval tv{};
    if (ares_timeout(channel, nullptr, &tv) == nullptr) {
      timeout_timer.cancel();
      return;
    }
    timeout_timer.arm(core::Millis(tv.tv_sec * 1000 + tv.tv_usec / 1000 + 1));
  }

  core::EventLoop& loop;
  ares_channel channel = nullptr;
  std::unordered_map<int, std::unique_ptr<Socket>> sockets;
  core::Timer timeout_timer;
};

UpstreamResolver::UpstreamResolver(core::EventLoop& control_loop, ResolverOptions opts)
    : loop_(control_loop), opts_(std::move(opts)), channel_(std::make_unique<Channel>(control_loop)) {
  static const int library = ares_library_init(ARES_LIB_INIT_ALL);
  (void)library;
  ares_options o{};
  o.sock_state_cb = &Channel::sock_state;
  o.sock_state_cb_data = channel_.get();
  o.timeout = static_cast<int>(opts_.timeout.count());
  o.tries = 2;
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  int rc = ares_init_options(&channel_->channel, &o, mask);
  if (rc != ARES_SUCCESS) {
    spdlog::error("dns resolver: c-ares init failed: {}", ares_strerror(rc));
    channel_->channel = nullptr;
    return;
  }
  if (!opts_.servers.empty()) {
    std::string csv;
    for (const auto& s : opts_.servers) {
      if (!csv.empty()) csv.push_back(',');
      csv.append(s.to_string());  // appended, not "," + string: GCC 12 warns falsely (-Wrestrict)
    }
    rc = ares_set_servers_ports_csv(channel_->channel, csv.c_str());
    if (rc != ARES_SUCCESS) spdlog::error("dns resolver: servers {}: {}", csv, ares_strerror(rc));
  }
}

UpstreamResolver::~UpstreamResolver() {
  watches_.clear();  // callbacks from ares_destroy find no watch and do nothing
  channel_.reset();
}

uint64_t UpstreamResolver::watch(std::string name, uint16_t port, OnChange on_change) {
  uint64_t id = next_id_++;
  auto w = std::make_unique<Watch>(loop_, [this, id] {
    auto it = watches_.find(id);
    if (it != watches_.end()) resolve(*it->second);
  });
  w->id = id;
  w->name = std::move(name);
  w->port = port;
  w->on_change = std::move(on_change);
  Watch& ref = *w;
  watches_.emplace(id, std::move(w));
  resolve(ref);
  return id;
}

void UpstreamResolver::unwatch(uint64_t id) { watches_.erase(id); }

bool UpstreamResolver::status(uint64_t id, Status& out) const {
  auto it = watches_.find(id);
  if (it == watches_.end()) return false;
  const Watch& w = *it->second;
  out.addresses = w.addresses;
  out.resolutions = w.resolutions;
  out.failures = w.failures;
  out.stale = w.stale;
  out.next_in = w.refresh.armed()
                    ? std::chrono::duration_cast<std::chrono::milliseconds>(w.refresh.deadline() - loop_.now())
                    : std::chrono::milliseconds(0);
  return true;
}

void UpstreamResolver::resolve(Watch& w) {
  if (w.in_flight) return;
  if (!channel_->channel) return on_result(w.id, ARES_ENOTINITIALIZED, {}, 0);
  w.in_flight = true;
  struct Request {
    UpstreamResolver* self;
    uint64_t id;
    uint16_t port;
  };
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  auto* req = new Request{this, w.id, w.port};
  ares_getaddrinfo(
      channel_->channel, w.name.c_str(), nullptr, &hints,
      [](void* arg, int status, int, ares_addrinfo* res) {
        std::unique_ptr<Request> r(static_cast<Request*>(arg));
        std::vector<core::Address> addrs;
        uint32_t ttl = UINT32_MAX;
        if (status == ARES_SUCCESS && res) {
          for (auto* n = res->nodes; n; n = n->ai_next) {
            core::Address a;
            if (n->ai_family == AF_INET) {
              a.len = sizeof(sockaddr_in);
              std::memcpy(&a.storage, n->ai_addr, a.len);
              reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(r->port);
            } else if (n->ai_family == AF_INET6) {
              a.len = sizeof(sockaddr_in6);
              std::memcpy(&a.storage, n->ai_addr, a.len);
              reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(r->port);
            } else {
              continue;
            }
            if (std::find(addrs.begin(), addrs.end(), a) == addrs.end()) addrs.push_back(a);
            ttl = std::min<uint32_t>(ttl, uint32_t(std::max(n->ai_ttl, 0)));
          }
        }
        if (res) ares_freeaddrinfo(res);
        if (status == ARES_EDESTRUCTION) return;
        r->self->on_result(r->id, status, std::move(addrs), ttl);
      },
      req);
  channel_->arm_timeout();
}

void UpstreamResolver::on_result(uint64_t id, int status, std::vector<core::Address> addrs, uint32_t ttl) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return;  // unwatched while the query was out
  Watch& w = *it->second;
  w.in_flight = false;
  ++w.resolutions;
  // ENOTFOUND/ENODATA are answers (the name or its addresses do not exist), cached for
  // negative_ttl; everything else is a failure of resolution itself.
  bool negative = status == ARES_ENOTFOUND || status == ARES_ENODATA || (status == ARES_SUCCESS && addrs.empty());
  if (status != ARES_SUCCESS && !negative) {
    ++w.failures;
    if (w.have_answer) {
      if (!w.stale)
        spdlog::warn("dns resolver: {} failed ({}); serving the last good answer ({} addresses)", w.name,
                     ares_strerror(status), w.addresses.size());
      w.stale = true;
    } else {
      spdlog::warn("dns resolver: {} failed ({}) and there is no earlier answer", w.name, ares_strerror(status));
    }
    return schedule(w, opts_.negative_ttl);
  }
  w.stale = false;
  if (negative) {
    if (!w.have_answer || !w.addresses.empty())
      spdlog::warn("dns resolver: {} has no addresses ({})", w.name,
                   status == ARES_SUCCESS ? "empty answer" : ares_strerror(status));
    addrs.clear();
  }
  std::sort(addrs.begin(), addrs.end(), [](const core::Address& a, const core::Address& b) {
    return a.to_string() < b.to_string();
  });
  bool changed = !w.have_answer || addrs != w.addresses;
  w.addresses = std::move(addrs);
  w.have_answer = true;
  auto after = negative ? opts_.negative_ttl
                        : std::clamp(std::chrono::milliseconds(uint64_t(ttl) * 1000), opts_.min_ttl, opts_.max_ttl);
  schedule(w, after);
  if (changed && w.on_change) {
    // The callback may unwatch (and so destroy) this watch: copy what it needs first.
    auto cb = w.on_change;
    auto current = w.addresses;
    cb(current);
  }
}

void UpstreamResolver::schedule(Watch& w, std::chrono::milliseconds after) { w.refresh.arm(after); }

}  // namespace hop::dns
