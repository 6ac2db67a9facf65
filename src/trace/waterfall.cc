#include "trace/waterfall.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace hop::trace {

namespace {

constexpr const char* kReset = "\033[0m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kDim = "\033[2m";
constexpr const char* kBold = "\033[1m";

struct Row {
  std::string label;
  double ms = 0;
  double offset = 0;
  bool timed = true;       // false: a value without a duration (retries)
  std::string detail;
  std::vector<std::string> more;  // continuation lines under detail
  const char* color = "";
  bool failed = false;
};

const char* phase_color(Phase p) {
  switch (p) {
    case Phase::kDns: return "\033[36m";
    case Phase::kConnect: return "\033[33m";
    case Phase::kTls: return "\033[35m";
    case Phase::kSend: return "\033[37m";
    case Phase::kTtfb: return "\033[32m";
    case Phase::kTransfer: return "\033[34m";
    default: return "";
  }
}

std::string human_bytes_per_second(double bps) {
  if (bps >= 1e9) return fmt::format("{:.1f} GB/s", bps / 1e9);
  if (bps >= 1e6) return fmt::format("{:.1f} MB/s", bps / 1e6);
  if (bps >= 1e3) return fmt::format("{:.1f} kB/s", bps / 1e3);
  return fmt::format("{:.0f} B/s", bps);
}

std::string bar(double offset, double ms, double total, const WaterfallStyle& s) {
  int w = std::max(10, s.bar_width);
  std::string cells(static_cast<size_t>(w), ' ');
  if (total > 0) {
    int start = static_cast<int>(std::floor(offset / total * w));
    int len = static_cast<int>(std::round(ms / total * w));
    start = std::clamp(start, 0, w - 1);
    len = std::clamp(len, 1, w - start);  // a phase that happened always shows a mark
    for (int i = start; i < start + len; ++i) cells[static_cast<size_t>(i)] = '=';
  }
  if (!s.color) return "|" + cells + "|";
  std::string out = "\u2502";
  for (char c : cells) out += c == '=' ? "\u2588" : " ";
  return out + "\u2502";
}

std::string dns_detail(const RequestTrace& t) {
  const auto& d = t.dns;
  std::string out = d.source;
  if (!d.resolver.empty()) out += " via " + d.resolver;
  if (!d.addresses.empty()) {
    out += " -> " + d.addresses.front();
    if (d.addresses.size() > 1) out += fmt::format(" (+{} more)", d.addresses.size() - 1);
  }
  if (d.ttl >= 0) out += fmt::format(", ttl {}s", d.ttl);
  if (d.cached && d.source != "reused connection") out += " (cached)";
  return out;
}

std::string server_row_detail(const ServerTimingEntry& e) { return e.desc; }

std::vector<Row> build_rows(const RequestTrace& t) {
  std::vector<Row> rows;
  double cursor = 0;
  auto add = [&](Phase p, const char* label, double ms, std::string detail) -> Row& {
    Row r;
    r.label = label;
    r.ms = ms;
    r.offset = cursor;
    r.detail = std::move(detail);
    r.color = phase_color(p);
    if (t.failed_phase == p) {
      r.failed = true;
      r.detail = "FAILED: " + t.error;
    }
    cursor += ms;
    rows.push_back(std::move(r));
    return rows.back();
  };
  auto reached = [&](Phase p) {
    // Phases run in enum order; a failure ends the list at the failing phase.
    return t.ok() || t.failed_phase == Phase::kHttp || static_cast<int>(p) <= static_cast<int>(t.failed_phase);
  };

  add(Phase::kDns, "dns", t.dns_ms, dns_detail(t));
  if (!reached(Phase::kConnect)) return rows;
  Row& connect = add(Phase::kConnect, "connect", t.connect_ms, t.reused ? "reused " + t.remote_addr : t.remote_addr);
  (void)connect;
  if (t.tls_used && reached(Phase::kTls)) {
    std::string detail = t.reused ? "reused " : "";
    detail += fmt::format("{} {} alpn {} {}", t.tls.version, t.tls.cipher,
                          t.tls.alpn.empty() ? "-" : t.tls.alpn,
                          t.tls.resumed ? "resumed" : "full handshake");
    Row& r = add(Phase::kTls, "tls", t.tls_ms, detail);
    if (!t.tls.subject.empty()) {
      r.more.push_back("cert " + t.tls.subject);
      r.more.push_back("  issuer " + t.tls.issuer + ", expires " + t.tls.not_after);
    }
  }
  if (!reached(Phase::kSend)) return rows;
  add(Phase::kSend, "send", t.send_ms, t.method + " " + t.protocol);
  if (!reached(Phase::kTtfb)) return rows;
  double ttfb_start = cursor;
  std::string status = t.status ? fmt::format("{} {}", t.status, t.reason) : "";
  add(Phase::kTtfb, "ttfb", t.ttfb_ms, status);
  if (t.failed_phase == Phase::kHttp) rows.back().detail = status;

  // Server phases are measured on the server's clock; they are laid out in the order
  // given, from the start of ttfb, with a "total" entry spanning from that start.
  double server_cursor = ttfb_start;
  for (const auto& e : t.server_timing) {
    Row r;
    r.label = "  " + e.name;
    r.color = kDim;
    r.detail = server_row_detail(e);
    if (!e.dur) {
      r.timed = false;
    } else if (e.name == "retries") {
      r.timed = false;  // hop reports the count in desc, with dur 0
    } else {
      r.ms = *e.dur;
      r.offset = e.name.find("total") != std::string::npos ? ttfb_start : server_cursor;
      if (e.name.find("total") == std::string::npos) server_cursor += *e.dur;
    }
    rows.push_back(std::move(r));
  }
  if (!reached(Phase::kTransfer)) return rows;
  add(Phase::kTransfer, "transfer", t.transfer_ms,
      fmt::format("{} bytes, {}", t.bytes, human_bytes_per_second(t.throughput_bps())));
  return rows;
}

}  // namespace

std::string render_waterfall(const RequestTrace& t, const WaterfallStyle& s) {
  std::vector<Row> rows = build_rows(t);
  double axis = t.total_ms;
  for (const auto& r : rows) axis = std::max(axis, r.offset + r.ms);

  size_t label_width = 10;
  for (const auto& r : rows) label_width = std::max(label_width, r.label.size());
  auto paint = [&](const char* color, const std::string& text) {
    return s.color && *color ? std::string(color) + text + kReset : text;
  };

  std::string out;
  out += paint(kBold, fmt::format("{} {}", t.method, t.url));
  if (!t.remote_addr.empty()) out += fmt::format("  ({}{})", t.remote_addr, t.reused ? ", reused" : "");
  out += "\n";
  out += paint(kDim, "traceparent " + t.traceparent) + "\n";
  // Continuation lines start under the detail column: "  label time |bar| detail".
  std::string indent(2 + label_width + 1 + 12 + 1 + static_cast<size_t>(std::max(10, s.bar_width)) + 2 + 1, ' ');
  for (const auto& r : rows) {
    std::string time = r.timed ? fmt::format("{:>9.2f} ms", r.ms) : fmt::format("{:>12}", "");
    std::string b = r.timed ? bar(r.offset, r.ms, axis, s)
                            : std::string(static_cast<size_t>(std::max(10, s.bar_width)) + 2, ' ');
    std::string detail = r.failed ? paint(kRed, r.detail) : r.detail;
    out += fmt::format("  {:<{}} {} {} {}\n", r.label, label_width, time, paint(r.color, b), detail);
    for (const auto& m : r.more) out += indent + paint(kDim, m) + "\n";
  }
  out += fmt::format("  {:<{}} {:>9.2f} ms", "total", label_width, t.total_ms);
  if (t.ok()) {
    out += fmt::format("  {} {}, {} bytes\n", t.status, t.reason, t.bytes);
  } else {
    out += "  " + paint(kRed, fmt::format("failed in {}: {}", phase_name(t.failed_phase), t.error)) + "\n";
  }
  return out;
}

std::string render_table_header() {
  return fmt::format("{:>4}  {:>6}  {:<6}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}\n", "#",
                     "status", "reused", "dns", "connect", "tls", "ttfb", "transfer", "total",
                     "bytes");
}

std::string render_table_row(const RequestTrace& t, const WaterfallStyle& s) {
  std::string out = fmt::format(
      "{:>4}  {:>6}  {:<6}  {:>9.2f}  {:>9.2f}  {:>9.2f}  {:>9.2f}  {:>9.2f}  {:>9.2f}  {:>9}",
      t.index, t.status, t.reused ? "yes" : "no", t.dns_ms, t.connect_ms, t.tls_ms, t.ttfb_ms,
      t.transfer_ms, t.total_ms, t.bytes);
  if (t.tls_used && !t.reused && t.tls.resumed) out += "  tls resumed";
  if (!t.ok()) {
    std::string e = fmt::format("  failed in {}: {}", phase_name(t.failed_phase), t.error);
    out += s.color ? std::string(kRed) + e + kReset : e;
  }
  return out + "\n";
}

void RunSummary::add(const RequestTrace& t) {
  ++requests_;
  if (t.ok()) ++ok_;
  if (!t.reused) {
    ++attempts_;
    setup_ms_ += t.dns_ms + t.connect_ms + t.tls_ms;
    bool connected = t.failed_phase != Phase::kDns && t.failed_phase != Phase::kConnect;
    if (connected) ++connections_;
    if (t.tls.resumed) ++resumed_;
  }
  // Only requests that got an answer have a ttfb worth averaging.
  if (t.status > 0) {
    ttfb_min_ = answered_ == 0 ? t.ttfb_ms : std::min(ttfb_min_, t.ttfb_ms);
    ttfb_max_ = std::max(ttfb_max_, t.ttfb_ms);
    ttfb_sum_ += t.ttfb_ms;
    ++answered_;
  }
  total_sum_ += t.total_ms;
  bytes_ += t.bytes;
}

std::string RunSummary::render() const {
  if (requests_ == 0) return "";
  double n = static_cast<double>(requests_);
  std::string out = fmt::format("{} requests, {} ok, {} connection{} opened", requests_, ok_,
                                connections_, connections_ == 1 ? "" : "s");
  if (resumed_) out += fmt::format(" ({} with TLS resumed)", resumed_);
  out += "\n";
  out += fmt::format("setup (dns+connect+tls): {:.2f} ms paid {} time{}, amortized {:.2f} ms/request\n",
                     setup_ms_, attempts_, attempts_ == 1 ? "" : "s", setup_ms_ / n);
  if (answered_ > 0) {
    out += fmt::format("ttfb min/avg/max: {:.2f}/{:.2f}/{:.2f} ms; ", ttfb_min_,
                       ttfb_sum_ / static_cast<double>(answered_), ttfb_max_);
  } else {
    out += "no responses; ";
  }
  out += fmt::format("total avg {:.2f} ms; {} bytes\n", total_sum_ / n, bytes_);
  return out;
}

}  // namespace hop::trace
