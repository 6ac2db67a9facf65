// Building queries and reading responses in tests, independent of the server's writer.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dns/dns_config.h"
#include "dns/dns_health.h"
#include "dns/dns_metrics.h"
#include "dns/dns_server.h"
#include "dns/rdata_text.h"
#include "dns/wire.h"
#include "health/health_checker.h"

namespace hop::dns::testing {

// Polls pred() every millisecond until it holds or `limit` passes; returns pred()'s last
// value. The limit only ends a wait that would otherwise hang the test binary (ctest's
// TIMEOUT would then kill it without saying what it waited for): generous, never the
// bound under test.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

struct QueryOptions {
  uint16_t id = 0x1234;
  bool edns = true;
  uint16_t payload = 1232;
  uint8_t version = 0;
  bool ecs = false;
  std::string ecs_subnet;  // "192.0.2.0/24"
  bool rd = true;
};

inline QueryOptions no_edns() {
  QueryOptions o;
  o.edns = false;
  return o;
}
inline QueryOptions edns_version(uint8_t v) {
  QueryOptions o;
  o.version = v;
  return o;
}
inline QueryOptions with_payload(uint16_t p) {
  QueryOptions o;
  o.payload = p;
  return o;
}
inline QueryOptions with_ecs(std::string subnet) {
  QueryOptions o;
  o.ecs = true;
  o.ecs_subnet = std::move(subnet);
  return o;
}

inline std::vector<uint8_t> make_query(const std::string& name, uint16_t qtype, QueryOptions o = {}) {
  std::vector<uint8_t> m(12, 0);
  put16(m.data(), o.id);
  put16(m.data() + 2, o.rd ? 0x0100 : 0);
  put16(m.data() + 4, 1);
  std::string wire, err;
  text_to_name(name, std::string(1, '\0'), wire, false, err);
  m.insert(m.end(), wire.begin(), wire.end());
  m.push_back(uint8_t(qtype >> 8));
  m.push_back(uint8_t(qtype));
  m.push_back(0);
  m.push_back(1);
  if (o.edns) {
    put16(m.data() + 10, 1);
    std::vector<uint8_t> opt;
    if (o.ecs) {
      auto slash = o.ecs_subnet.find('/');
      std::string ip = o.ecs_subnet.substr(0, slash);
      int prefix = std::stoi(o.ecs_subnet.substr(slash + 1));
      uint8_t addr[16] = {};
      bool v6 = ip.find(':') != std::string::npos;
      inet_pton(v6 ? AF_INET6 : AF_INET, ip.c_str(), addr);
      size_t alen = (prefix + 7) / 8;
      opt = {0, 8, 0, uint8_t(4 + alen), 0, uint8_t(v6 ? 2 : 1), uint8_t(prefix), 0};
      opt.insert(opt.end(), addr, addr + alen);
    }
    uint8_t rr[11] = {0, 0, 41, uint8_t(o.payload >> 8), uint8_t(o.payload), 0, o.version, 0, 0,
                      uint8_t(opt.size() >> 8), uint8_t(opt.size())};
    m.insert(m.end(), rr, rr + 11);
    m.insert(m.end(), opt.begin(), opt.end());
  }
  return m;
}

// A message put together field by field, for the queries make_query cannot spell: wrong
// counts, other opcodes and classes, malformed OPT records and options.
class RawMessage {
 public:
  explicit RawMessage(uint16_t flags = 0x0100, uint16_t id = 0x1234) : m_(12, 0) {
    put16(m_.data(), id);
    put16(m_.data() + 2, flags);
  }
  RawMessage& opcode(uint8_t op) {
    put16(m_.data() + 2, uint16_t((get16(m_.data() + 2) & ~0x7800) | op << 11));
    return *this;
  }
  // Appends to a section and counts it there (0 question, 1 answer, 2 authority, 3 additional).
  RawMessage& question(const std::string& name, uint16_t qtype, uint16_t qclass = kClassIN) {
    append_name(name);
    append16(qtype);
    append16(qclass);
    return bump(0);
  }
  // The client's SOA, as in an RFC 1995 IXFR query (authority) or a NOTIFY (answer).
  RawMessage& soa(int section, const std::string& owner, uint32_t serial = 1) {
    append_name(owner);
    append16(type::kSOA);
    append16(kClassIN);
    append32(300);
    std::vector<uint8_t> rdata{0, 0};  // MNAME and RNAME: the root, to keep it short
    for (uint32_t v : {serial, 3600u, 600u, 604800u, 60u})
      rdata.insert(rdata.end(), {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)});
    append16(uint16_t(rdata.size()));
    m_.insert(m_.end(), rdata.begin(), rdata.end());
    return bump(section);
  }
  // An OPT record in the additional section: `ttl` holds extended rcode, version and the DO
  // bit (0x8000); `owner` is the root unless given.
  RawMessage& opt(std::vector<uint8_t> options = {}, uint32_t ttl = 0, uint16_t payload = 1232,
                  const std::string& owner = ".") {
    append_name(owner);
    append16(type::kOPT);
    append16(payload);
    append32(ttl);
    append16(uint16_t(options.size()));
    m_.insert(m_.end(), options.begin(), options.end());
    return bump(3);
  }
  std::vector<uint8_t> bytes() const { return m_; }

  // An EDNS option with `len` as its length field (the data's size unless given).
  static std::vector<uint8_t> option(uint16_t code, std::vector<uint8_t> data, int len = -1) {
    size_t l = len < 0 ? data.size() : size_t(len);
    std::vector<uint8_t> o(4 + data.size());  // sized first: GCC 12 misreads an insert here (-Warray-bounds)
    put16(o.data(), code);
    put16(o.data() + 2, uint16_t(l));
    std::copy(data.begin(), data.end(), o.begin() + 4);
    return o;
  }
  // ECS (RFC 7871 §6) exactly as given, however wrong.
  static std::vector<uint8_t> ecs(uint16_t family, uint8_t source, uint8_t scope, std::vector<uint8_t> address) {
    std::vector<uint8_t> d(4 + address.size());
    put16(d.data(), family);
    d[2] = source, d[3] = scope;
    std::copy(address.begin(), address.end(), d.begin() + 4);
    return option(kEdnsOptionClientSubnet, d);
  }

 private:
  void append16(uint16_t v) { m_.insert(m_.end(), {uint8_t(v >> 8), uint8_t(v)}); }
  void append32(uint32_t v) { m_.insert(m_.end(), {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}); }
  void append_name(const std::string& name) {
    std::string wire, err;
    text_to_name(name, std::string(1, '\0'), wire, false, err);
    m_.insert(m_.end(), wire.begin(), wire.end());
  }
  RawMessage& bump(int count) {
    put16(m_.data() + 4 + 2 * count, uint16_t(get16(m_.data() + 4 + 2 * count) + 1));
    return *this;
  }
  std::vector<uint8_t> m_;
};

struct Record {
  std::string owner;  // text, as written (case kept)
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::string rdata;  // raw, names left compressed
  size_t rdata_offset = 0;
};

struct Response {
  uint16_t id = 0, flags = 0;
  uint16_t rcode = 0;  // with the extended bits from OPT
  std::string qname;   // as echoed
  std::vector<Record> answer, authority, additional;
  bool has_opt = false;
  std::string opt_rdata;
  bool aa() const { return flags & 0x0400; }
  bool tc() const { return flags & 0x0200; }
  std::vector<std::string> a_values() const {
    std::vector<std::string> out;
    for (const auto& r : answer)
      if (r.type == type::kA && r.rdata.size() == 4) {
        char buf[16];
        inet_ntop(AF_INET, r.rdata.data(), buf, sizeof buf);
        out.push_back(buf);
      }
    return out;
  }
};

// Decodes names with pointers (no case folding) for assertions on case and compression.
inline std::string decode_name(const std::vector<uint8_t>& m, size_t& pos) {
  std::string out;
  size_t p = pos;
  bool jumped = false;
  for (int hops = 0; hops < 64 && p < m.size(); ++hops) {
    uint8_t l = m[p];
    if ((l & 0xC0) == 0xC0) {
      if (!jumped) pos = p + 2;
      jumped = true;
      p = size_t(l & 0x3F) << 8 | m[p + 1];
      continue;
    }
    if (l == 0) {
      if (!jumped) pos = p + 1;
      return out.empty() ? "." : out;
    }
    out.append(reinterpret_cast<const char*>(&m[p + 1]), l);
    out.push_back('.');
    p += 1 + l;
  }
  return "<bad>";
}

inline std::optional<Response> parse_response(const std::vector<uint8_t>& m) {
  if (m.size() < 12) return std::nullopt;
  Response r;
  r.id = get16(&m[0]);
  r.flags = get16(&m[2]);
  r.rcode = r.flags & 0xF;
  size_t pos = 12;
  uint16_t qd = get16(&m[4]), counts[3] = {get16(&m[6]), get16(&m[8]), get16(&m[10])};
  for (int i = 0; i < qd; ++i) {
    r.qname = decode_name(m, pos);
    pos += 4;
  }
  std::vector<Record>* sections[3] = {&r.answer, &r.authority, &r.additional};
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < counts[s]; ++i) {
      Record rec;
      rec.owner = decode_name(m, pos);
      if (pos + 10 > m.size()) return std::nullopt;
      rec.type = get16(&m[pos]);
      rec.ttl = get32(&m[pos + 4]);
      uint16_t rdlen = get16(&m[pos + 8]);
      if (pos + 10 + rdlen > m.size()) return std::nullopt;
      rec.rdata_offset = pos + 10;
      rec.rdata.assign(reinterpret_cast<const char*>(&m[pos + 10]), rdlen);
      if (rec.type == type::kOPT) {
        r.has_opt = true;
        r.opt_rdata = rec.rdata;
        r.rcode |= uint16_t(m[pos + 4]) << 4;
      }
      pos += 10 + rdlen;
      sections[s]->push_back(std::move(rec));
    }
  }
  return r;
}

// A DnsServer and a health checker on one loop, in a thread of their own, listening on a
// kernel-chosen port of 127.0.0.1.
class ServerThread {
 public:
  // `yaml` is the body of the dns section; listen is forced to 127.0.0.1:0.
  explicit ServerThread(const std::string& yaml, std::string dir = ".") : checker_(loop_), server_(loop_, metrics_) {
    YAML::Node n = YAML::Load(yaml);
    n["listen"] = std::vector<std::string>{"127.0.0.1:0"};
    config::ConfigErrors errs("test.yaml");
    ClusterLookup clusters{[](std::string_view name) { return name == "up" || name == "down"; }};
    cfg_ = parse_dns_config(n, dir, errs, clusters);
    if (!cfg_) {
      error = errs.to_string();
      return;
    }
    auto health = bind_health(*cfg_, checker_, [](std::string_view name) -> std::function<bool()> {
      if (name == "up") return [] { return true; };
      return [] { return false; };
    });
    if (!server_.start(cfg_, health, error)) return;
    udp = server_.bound_udp().at(0);
    tcp = server_.bound_tcp().at(0);
    thread_ = std::thread([this] { loop_.run(); });
    ok = true;
  }
  ~ServerThread() {
    if (thread_.joinable()) {
      loop_.post([this] {
        server_.stop();
        loop_.stop();
      });
      thread_.join();
    }
  }
  // Runs fn on the server's thread and waits for it (at most wait_until's limit): false when
  // the loop did not get to it. fn and the flag are shared with the posted closure, so a
  // late run after a timed-out wait touches nothing of this stack frame.
  [[nodiscard]] bool on_loop(std::function<void()> fn) {
    auto done = std::make_shared<std::atomic<bool>>(false);
    loop_.post([fn = std::move(fn), done] {
      fn();
      *done = true;
    });
    return wait_until([&] { return done->load(); });
  }
  DnsServer& server() { return server_; }
  core::EventLoop& loop() { return loop_; }
  DnsMetrics& metrics() { return metrics_; }
  std::string port() const { return std::to_string(udp.port()); }

  bool ok = false;
  std::string error;
  core::Address udp, tcp;

 private:
  core::EventLoop loop_;
  health::HealthChecker checker_;
  DnsMetrics metrics_;
  DnsServer server_;
  std::shared_ptr<const DnsConfig> cfg_;
  std::thread thread_;
};

class UdpClient {
 public:
  explicit UdpClient(const core::Address& server) : server_(server) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    ::connect(fd_, server.sa(), server.len);
  }
  ~UdpClient() { ::close(fd_); }
  void send(const std::vector<uint8_t>& q) { (void)!::send(fd_, q.data(), q.size(), 0); }
  std::optional<std::vector<uint8_t>> recv(int timeout_ms = 1000) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return std::nullopt;
    std::vector<uint8_t> buf(65536);
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0) return std::nullopt;
    buf.resize(size_t(n));
    return buf;
  }
  std::optional<std::vector<uint8_t>> ask(const std::vector<uint8_t>& q, int timeout_ms = 1000) {
    send(q);
    return recv(timeout_ms);
  }

 private:
  core::Address server_;
  int fd_;
};

class TcpClient {
 public:
  explicit TcpClient(const core::Address& server) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    connected = ::connect(fd_, server.sa(), server.len) == 0;
  }
  ~TcpClient() { ::close(fd_); }
  void send_raw(const std::vector<uint8_t>& bytes) { (void)!::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
  void send(const std::vector<uint8_t>& q) {
    std::vector<uint8_t> framed{uint8_t(q.size() >> 8), uint8_t(q.size())};
    framed.insert(framed.end(), q.begin(), q.end());
    send_raw(framed);
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  // Reads one framed message; nullopt on timeout or close.
  std::optional<std::vector<uint8_t>> recv(int timeout_ms = 2000) {
    uint8_t len[2];
    if (!read_exact(len, 2, timeout_ms)) return std::nullopt;
    std::vector<uint8_t> m(size_t(len[0]) << 8 | len[1]);
    if (!read_exact(m.data(), m.size(), timeout_ms)) return std::nullopt;
    return m;
  }
  bool closed_by_peer(int timeout_ms = 2000) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }
  bool connected = false;

 private:
  bool read_exact(uint8_t* p, size_t n, int timeout_ms) {
    while (n) {
      pollfd pf{fd_, POLLIN, 0};
      if (::poll(&pf, 1, timeout_ms) != 1) return false;
      ssize_t r = ::recv(fd_, p, n, 0);
      if (r <= 0) return false;
      p += r;
      n -= size_t(r);
    }
    return true;
  }
  int fd_;
};

}  // namespace hop::dns::testing
