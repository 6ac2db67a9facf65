#include "config/tls_section.h"

#include <algorithm>

#include "config/base/yaml_reader.h"
#include "tls/cert_check.h"
#include "tls/ticket_keys.h"

namespace hop::config {

namespace {

// nghttp2 and RFC 9113 §6.5.2 / §6.9.1 bounds: a window below the protocol's initial 65,535
// bytes would stall peers that send before seeing SETTINGS; above 2^31-1 is a protocol error.
constexpr uint64_t kMinWindow = 65535;
constexpr uint64_t kMaxWindow = (1ull << 31) - 1;

std::string resolve(const std::filesystem::path& base_dir, const std::string& p) {
  if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (base_dir / p).string();
}

bool read_path(const YAML::Node& n, const std::filesystem::path& base_dir, std::string& out, ConfigErrors& errs) {
  if (!read_string(n, out, errs)) return false;
  if (out.empty()) {
    errs.add(n, "expected a file path");
    return false;
  }
  out = resolve(base_dir, out);
  return true;
}

void read_min_version(const YAML::Node& n, int& out, ConfigErrors& errs) {
  std::string v;
  if (!read_string(n, v, errs)) return;
  if (v == "1.2") out = 0x0303;
  else if (v == "1.3") out = 0x0304;
  else errs.add(n, "min_version is \"1.2\" or \"1.3\"");
}

// Checks the pair and reports at the node the problem is about: a key that cannot be read or
// does not match is the key's fault, everything else the certificate's.
void check_pair(const YAML::Node& cert_node, const YAML::Node& key_node, const TlsCertificate& c, ConfigErrors& errs) {
  std::string e = tls::check_cert_pair(c.cert_file, c.key_file);
  if (e.empty()) return;
  bool about_key = e.rfind(c.key_file, 0) == 0 || e.rfind("cannot read " + c.key_file + ":", 0) == 0;
  errs.add(about_key ? key_node : cert_node, e);
}

void certificate(const YAML::Node& n, const YAML::Node& at, const std::filesystem::path& base_dir,
                 std::vector<TlsCertificate>& out, ConfigErrors& errs) {
  TlsCertificate c;
  bool ok = true;
  if (!n["cert"]) {
    errs.add(at, "certificate needs cert (a PEM chain) and key");
    ok = false;
  } else {
    ok &= read_path(n["cert"], base_dir, c.cert_file, errs);
  }
  if (!n["key"]) {
    errs.add(at, "certificate needs a key");
    ok = false;
  } else {
    ok &= read_path(n["key"], base_dir, c.key_file, errs);
  }
  if (ok) check_pair(n["cert"], n["key"], c, errs);
  out.push_back(std::move(c));
}

void uint32_in(const YAML::Node& n, uint32_t& out, uint64_t min, uint64_t max, ConfigErrors& errs) {
  uint64_t v = 0;
  if (read_uint(n, v, errs, min, max)) out = static_cast<uint32_t>(v);
}

void size_in(const YAML::Node& n, uint32_t& out, uint64_t min, uint64_t max, const char* what, ConfigErrors& errs) {
  uint64_t v = 0;
  if (!read_size(n, v, errs)) return;
  if (v < min || v > max) {
    errs.add(n, std::string(what) + " must be between " + std::to_string(min) + " and " + std::to_string(max) + " bytes");
    return;
  }
  out = static_cast<uint32_t>(v);
}

}  // namespace

void parse_listener_tls(const YAML::Node& n, const std::filesystem::path& base_dir, TlsServerConfig& t,
                        ConfigErrors& errs) {
  if (!check_keys(n, {"certificates", "cert", "key", "alpn", "min_version", "ciphers", "session_tickets",
                      "ticket_key_rotation", "ticket_keys", "session_cache_size", "session_lifetime", "client_ca", "client_cert"},
                  errs, "tls"))
    return;
  if (n["certificates"] && (n["cert"] || n["key"])) {
    errs.add(n, "tls takes certificates or a single cert and key, not both");
  } else if (n["certificates"]) {
    if (expect_sequence(n["certificates"], errs, "certificates")) {
      for (const auto& c : n["certificates"])
        if (check_keys(c, {"cert", "key"}, errs, "certificate")) certificate(c, c, base_dir, t.certificates, errs);
    }
  } else if (n["cert"] || n["key"]) {
    certificate(n, n, base_dir, t.certificates, errs);
  }
  if (t.certificates.empty() && !(n["certificates"] && !n["certificates"].IsSequence()))
    errs.add(n["certificates"] ? n["certificates"] : n, "tls needs at least one certificate (cert and key)");

  if (n["alpn"] && expect_sequence(n["alpn"], errs, "alpn")) {
    t.alpn.clear();
    for (const auto& a : n["alpn"]) {
      std::string s;
      if (!read_string(a, s, errs)) continue;
      if (s != "h2" && s != "http/1.1") errs.add(a, "unknown ALPN protocol '" + s + "' (h2, http/1.1)");
      else if (std::find(t.alpn.begin(), t.alpn.end(), s) != t.alpn.end()) errs.add(a, "duplicate ALPN protocol '" + s + "'");
      else t.alpn.push_back(s);
    }
  }
  if (n["min_version"]) read_min_version(n["min_version"], t.min_version, errs);
  if (n["ciphers"] && read_string(n["ciphers"], t.ciphers, errs)) {
    if (std::string e = tls::check_cipher_list(t.ciphers); !e.empty()) errs.add(n["ciphers"], e);
  }
  if (n["session_tickets"]) read_bool(n["session_tickets"], t.session_tickets, errs);
  if (n["ticket_key_rotation"] && read_duration(n["ticket_key_rotation"], t.ticket_key_rotation, errs) &&
      t.ticket_key_rotation < std::chrono::minutes(1))
    errs.add(n["ticket_key_rotation"], "ticket_key_rotation must be at least 1m");
  if (n["ticket_keys"] && expect_sequence(n["ticket_keys"], errs, "ticket_keys")) {
    for (const auto& k : n["ticket_keys"]) {
      std::string path;
      if (!read_path(k, base_dir, path, errs)) continue;
      tls::TicketKey key;
      std::string e;
      if (!tls::read_ticket_key_file(path, key, e)) errs.add(k, e);
      else t.ticket_key_files.push_back(path);
    }
    if (n["ticket_keys"].size() == 0) errs.add(n["ticket_keys"], "ticket_keys needs at least one key file");
  }
  if (n["session_cache_size"]) read_uint(n["session_cache_size"], t.session_cache_size, errs, 0, 10000000);
  if (n["session_lifetime"] && read_duration(n["session_lifetime"], t.session_lifetime, errs) &&
      (t.session_lifetime < std::chrono::seconds(1) || t.session_lifetime > std::chrono::hours(24 * 7)))
    errs.add(n["session_lifetime"], "session_lifetime must be between 1s and 7 days (RFC 8446 §4.6.1)");
  if (n["client_ca"] && read_path(n["client_ca"], base_dir, t.client_ca_file, errs)) {
    if (std::string e = tls::check_ca_file(t.client_ca_file); !e.empty()) errs.add(n["client_ca"], e);
  }
  if (n["client_cert"]) {
    std::string s;
    if (read_string(n["client_cert"], s, errs)) {
      if (s == "required") t.client_cert_required = true;
      else if (s == "optional") t.client_cert_required = false;
      else errs.add(n["client_cert"], "client_cert is required or optional");
    }
    if (!n["client_ca"]) errs.add(n["client_cert"], "client_cert needs client_ca (the CAs client certificates are checked against)");
  }
}

void parse_listener_http2(const YAML::Node& n, Http2Settings& h, ConfigErrors& errs) {
  if (!check_keys(n, {"enabled", "max_concurrent_streams", "initial_stream_window", "connection_window",
                      "max_header_list_size", "max_reset_burst", "max_reset_rate", "max_continuations",
                      "max_abusive_frames"},
                  errs, "http2"))
    return;
  if (n["enabled"]) read_bool(n["enabled"], h.enabled, errs);
  if (n["max_concurrent_streams"]) uint32_in(n["max_concurrent_streams"], h.max_concurrent_streams, 1, 10000, errs);
  if (n["initial_stream_window"])
    size_in(n["initial_stream_window"], h.initial_stream_window, kMinWindow, kMaxWindow, "initial_stream_window", errs);
  if (n["connection_window"])
    size_in(n["connection_window"], h.connection_window, kMinWindow, kMaxWindow, "connection_window", errs);
  if (n["max_header_list_size"])
    size_in(n["max_header_list_size"], h.max_header_list_size, 1024, 16 << 20, "max_header_list_size", errs);
  if (n["max_reset_burst"]) uint32_in(n["max_reset_burst"], h.max_reset_burst, 1, 1000000, errs);
  if (n["max_reset_rate"]) uint32_in(n["max_reset_rate"], h.max_reset_rate, 1, 1000000, errs);
  if (n["max_continuations"]) uint32_in(n["max_continuations"], h.max_continuations, 0, 1000, errs);
  if (n["max_abusive_frames"]) uint32_in(n["max_abusive_frames"], h.max_abusive_frames, 1, 1000000, errs);
}

void parse_cluster_transport(const YAML::Node& n, const std::filesystem::path& base_dir, ClusterConfig& c,
                             ConfigErrors& errs) {
  if (n["protocol"]) {
    std::string p;
    if (read_string(n["protocol"], p, errs)) {
      if (p == "h1") c.protocol = UpstreamProtocol::kHttp1;
      else if (p == "h2") c.protocol = UpstreamProtocol::kHttp2;
      else if (p == "h2c") c.protocol = UpstreamProtocol::kH2c;
      else if (p == "auto") c.protocol = UpstreamProtocol::kAuto;
      else errs.add(n["protocol"], "unknown protocol '" + p + "' (h1, h2, h2c, auto)");
    }
  }
  if (const auto& t = n["tls"]) {
    bool on = true;
    if (t.IsScalar()) {
      if (read_bool(t, on, errs) && on) c.tls.emplace();
    } else if (c.tls.emplace(); check_keys(t, {"sni", "verify", "ca", "cert", "key", "min_version"}, errs, "cluster tls")) {
      TlsClientConfig& tc = *c.tls;
      if (t["sni"]) read_string(t["sni"], tc.sni, errs);
      if (t["verify"]) read_bool(t["verify"], tc.verify, errs);
      if (t["ca"] && read_path(t["ca"], base_dir, tc.ca_file, errs)) {
        if (std::string e = tls::check_ca_file(tc.ca_file); !e.empty()) errs.add(t["ca"], e);
      }
      if (t["cert"] || t["key"]) {
        TlsCertificate pair;
        bool ok = true;
        if (!t["cert"] || !t["key"]) {
          errs.add(t, "a client certificate needs both cert and key");
          ok = false;
        }
        if (t["cert"]) ok &= read_path(t["cert"], base_dir, pair.cert_file, errs);
        if (t["key"]) ok &= read_path(t["key"], base_dir, pair.key_file, errs);
        if (ok) check_pair(t["cert"], t["key"], pair, errs);
        tc.cert_file = pair.cert_file;
        tc.key_file = pair.key_file;
      }
      if (t["min_version"]) read_min_version(t["min_version"], tc.min_version, errs);
    }
  }
  if (const auto& h = n["http2"]) {
    if (check_keys(h, {"max_concurrent_streams", "ping_interval", "ping_timeout"}, errs, "cluster http2")) {
      if (h["max_concurrent_streams"])
        uint32_in(h["max_concurrent_streams"], c.http2.max_concurrent_streams, 1, 10000, errs);
      // A PING every few milliseconds is a load on the host, not a liveness check.
      if (h["ping_interval"] && read_duration(h["ping_interval"], c.http2.ping_interval, errs) &&
          c.http2.ping_interval.count() != 0 && c.http2.ping_interval < std::chrono::seconds(1))
        errs.add(h["ping_interval"], "ping_interval must be 0s (off) or at least 1s");
      if (h["ping_timeout"] && read_duration(h["ping_timeout"], c.http2.ping_timeout, errs) &&
          c.http2.ping_timeout < std::chrono::milliseconds(100))
        errs.add(h["ping_timeout"], "ping_timeout must be at least 100ms");
    }
    if (c.protocol == UpstreamProtocol::kHttp1) errs.add(h, "http2 settings need protocol h2, h2c or auto");
  }
  const YAML::Node& at = n["protocol"] ? n["protocol"] : n;
  if ((c.protocol == UpstreamProtocol::kHttp2 || c.protocol == UpstreamProtocol::kAuto) && !c.tls)
    errs.add(at, std::string("protocol ") + to_string(c.protocol) +
                     " needs tls (h2 is chosen by ALPN); for cleartext HTTP/2 use protocol: h2c");
  if (c.protocol == UpstreamProtocol::kH2c && c.tls) errs.add(n["tls"], "protocol h2c is cleartext: remove tls or use h2");
}

}  // namespace hop::config
