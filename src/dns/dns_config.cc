#include "dns/dns_config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "config/base/yaml_reader.h"
#include "dns/policy.h"
#include "dns/rdata_text.h"
#include "dns/zone_file.h"

namespace hop::dns {

namespace {

// Policy answers per record: a cap so one record cannot make an answer exceed a UDP payload
// by construction, and the bound of the per-query selection array.
constexpr size_t kMaxValuesPerRecord = kMaxSelected;
constexpr uint32_t kMaxTtl = 0x7FFFFFFF;  // RFC 2181 §8

struct Ctx {
  config::ConfigErrors& errs;
  const ClusterLookup& clusters;
  DnsConfig& cfg;
  const std::filesystem::path& dir;
  // Where each RRset of the zone being read was first given, for errors found once the
  // whole zone is known (what a delegation hides).
  std::map<std::pair<std::string, uint16_t>, std::pair<YAML::Mark, std::string>> first_seen{};
};

bool read_ttl(const YAML::Node& n, uint32_t& out, config::ConfigErrors& errs) {
  if (n.IsScalar() && !n.Scalar().empty() && std::all_of(n.Scalar().begin(), n.Scalar().end(), ::isdigit)) {
    uint64_t v = 0;
    if (!config::read_uint(n, v, errs, 0, kMaxTtl)) return false;
    out = uint32_t(v);
    return true;
  }
  std::chrono::milliseconds d{};
  if (!config::read_duration(n, d, errs)) return false;
  if (d.count() / 1000 > kMaxTtl) {
    errs.add(n, "TTL too large");
    return false;
  }
  out = uint32_t(d.count() / 1000);
  return true;
}

// `value: "10 mail"` or `values: [...]` → wire rdatas.
bool read_values(const YAML::Node& holder, uint16_t rtype, const std::string& origin, std::vector<std::string>& out,
                 Ctx& c) {
  std::vector<YAML::Node> items;
  if (holder["value"] && holder["values"]) {
    c.errs.add(holder, "use either value or values");
    return false;
  }
  if (const auto& v = holder["value"]) items.push_back(v);
  if (const auto& vs = holder["values"]) {
    if (!config::expect_sequence(vs, c.errs, "values")) return false;
    for (const auto& v : vs) items.push_back(v);
  }
  if (items.empty()) {
    c.errs.add(holder, "record needs value or values");
    return false;
  }
  bool ok = true;
  for (const auto& item : items) {
    std::string text, err, wire;
    if (!config::read_string(item, text, c.errs)) {
      ok = false;
      continue;
    }
    std::vector<Token> tokens;
    if (rtype == type::kTXT && item.Tag() != "!" && text.find('"') == std::string::npos) {
      tokens.push_back({text, true});  // a plain YAML string is one TXT text, spaces and all
    } else if (!tokenize(text, tokens, err)) {
      c.errs.add(item, err);
      ok = false;
      continue;
    }
    if (!rdata_from_tokens(rtype, tokens, origin, wire, err)) {
      c.errs.add(item, err);
      ok = false;
      continue;
    }
    out.push_back(std::move(wire));
  }
  if (out.size() > kMaxValuesPerRecord) {
    c.errs.add(holder, "at most " + std::to_string(kMaxValuesPerRecord) + " values per record");
    ok = false;
  }
  return ok;
}

// Records what an answer's health follows; its index goes to the answer's `health`.
int32_t add_health_source(HealthSource source, Ctx& c) {
  c.cfg.health_sources.push_back(std::move(source));
  return static_cast<int32_t>(c.cfg.health_sources.size() - 1);
}

// health_check on an answer: the usual check keys plus `address` (default: the answer's own
// IP on port 80).
bool read_health(const YAML::Node& n, PolicyChoice& choice, uint16_t rtype, Ctx& c) {
  if (!config::expect_map(n, c.errs, "health_check")) return false;
  YAML::Node spec_node(YAML::NodeType::Map);
  for (auto it = n.begin(); it != n.end(); ++it)
    if (it->first.Scalar() != "address") spec_node.force_insert(it->first, it->second);
  health::CheckSpec spec;
  if (!health::parse_check_spec(spec_node, spec, c.errs)) return false;
  core::Address target;
  if (const auto& a = n["address"]) {
    if (!config::read_address(a, target, c.errs)) return false;
  } else {
    const std::string* ip = choice.rdatas.empty() ? nullptr : &choice.rdatas[0];
    if (rtype == type::kA && ip && ip->size() == 4) {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&target.storage);
      v4->sin_family = AF_INET;
      v4->sin_port = htons(80);
      memcpy(&v4->sin_addr, ip->data(), 4);
      target.len = sizeof(sockaddr_in);
    } else if (rtype == type::kAAAA && ip && ip->size() == 16) {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&target.storage);
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(80);
      memcpy(&v6->sin6_addr, ip->data(), 16);
      target.len = sizeof(sockaddr_in6);
    } else {
      c.errs.add(n, "health_check needs an address unless the record is A or AAAA");
      return false;
    }
  }
  choice.health = add_health_source({.cluster = {}, .target = target, .check = std::move(spec)}, c);
  return true;
}

bool read_choice(const YAML::Node& n, Policy policy, uint16_t rtype, const std::string& origin, Ctx& c,
                 PolicyChoice& out) {
  size_t before = c.errs.all().size();
  if (!config::check_keys(n, {"value", "values", "weight", "role", "location", "health_check", "cluster"}, c.errs,
                          "answer"))
    return false;
  bool ok = read_values(n, rtype, origin, out.rdatas, c);
  if (ok && n["value"]) out.description = n["value"].Scalar();
  if (const auto& w = n["weight"]) {
    uint64_t v = 0;
    if (policy != Policy::kWeighted) c.errs.add(w, "weight is only for policy: weighted");
    else if (config::read_uint(w, v, c.errs, 0, 1000000)) out.weight = uint32_t(v);
  } else if (policy == Policy::kWeighted) {
    c.errs.add(n, "weighted answers need a weight");
  }
  if (const auto& r = n["role"]) {
    std::string role;
    if (policy != Policy::kFailover) c.errs.add(r, "role is only for policy: failover");
    else if (config::read_string(r, role, c.errs)) {
      if (role == "primary") out.primary = true;
      else if (role == "secondary") out.primary = false;
      else c.errs.add(r, "role must be primary or secondary");
    }
  } else if (policy == Policy::kFailover) {
    c.errs.add(n, "failover answers need role: primary or role: secondary");
  }
  if (const auto& l = n["location"]) {
    std::string loc;
    if (policy != Policy::kGeo) c.errs.add(l, "location is only for policy: geo");
    else if (config::read_string(l, loc, c.errs)) {
      if (loc == "default") out.location = -1;
      else if ((out.location = c.cfg.geo.find_location(loc)) < 0)
        c.errs.add(l, "location '" + loc + "' is not defined under dns.geo");
    }
  } else if (policy == Policy::kGeo) {
    c.errs.add(n, "geo answers need a location (a name from dns.geo, or default)");
  }
  if (n["health_check"] && n["cluster"]) c.errs.add(n, "use either health_check or cluster");
  if (const auto& h = n["health_check"]) {
    if (ok) read_health(h, out, rtype, c);
  } else if (const auto& cl = n["cluster"]) {
    std::string name;
    if (config::read_string(cl, name, c.errs)) {
      bool exists = c.clusters.exists && c.clusters.exists(name);
      std::string why = exists && c.clusters.unusable ? c.clusters.unusable(name) : std::string();
      if (!exists) c.errs.add(cl, "no cluster named '" + name + "'");
      else if (!why.empty()) c.errs.add(cl, why);
      else out.health = add_health_source({.cluster = name, .target = {}, .check = {}}, c);
    }
  }
  return ok && c.errs.all().size() == before;
}

bool read_policy(const YAML::Node& n, Policy& out, config::ConfigErrors& errs) {
  std::string p;
  if (!config::read_string(n, p, errs)) return false;
  if (p == "simple") out = Policy::kSimple;
  else if (p == "weighted") out = Policy::kWeighted;
  else if (p == "failover") out = Policy::kFailover;
  else if (p == "geo") out = Policy::kGeo;
  else if (p == "multivalue") out = Policy::kMultivalue;
  else {
    errs.add(n, "policy must be simple, weighted, failover, geo or multivalue");
    return false;
  }
  return true;
}

// Adds a simple RRset value or a whole policy RRset to a zone, checking the RFC 1034 §3.6.2
// rule that a CNAME owner has no other data.
bool add_rrset(Zone& z, const std::string& owner, RRset rs, const YAML::Mark& at, Ctx& c, const std::string& where) {
  ZoneNode& node = z.nodes[owner];
  c.first_seen.try_emplace({owner, rs.type}, at, where);
  for (auto& existing : node.rrsets) {
    if ((existing.type == type::kCNAME) != (rs.type == type::kCNAME)) {
      c.errs.add(at, where + "CNAME at " + name_to_text(owner) + " cannot coexist with other records");
      return false;
    }
    if (existing.type != rs.type) continue;
    if (existing.policy != Policy::kSimple || rs.policy != Policy::kSimple || rs.type == type::kCNAME ||
        rs.type == type::kSOA) {
      c.errs.add(at, where + "duplicate " + type_to_text(rs.type) + " record at " + name_to_text(owner) +
                         " (a policy record must be the only one of its name and type)");
      return false;
    }
    for (auto& r : rs.rdatas)
      if (std::find(existing.rdatas.begin(), existing.rdatas.end(), r) == existing.rdatas.end())
        existing.rdatas.push_back(std::move(r));
    existing.ttl = std::min(existing.ttl, rs.ttl);  // RFC 2181 §5.2: one TTL per RRset
    if (existing.rdatas.size() > kMaxValuesPerRecord) {
      c.errs.add(at, where + "too many values at " + name_to_text(owner));
      return false;
    }
    return true;
  }
  node.rrsets.push_back(std::move(rs));
  return true;
}

void read_record(const YAML::Node& n, Zone& z, uint32_t default_ttl, Ctx& c) {
  size_t before = c.errs.all().size();
  if (!config::check_keys(n, {"name", "type", "ttl", "value", "values", "policy", "answers"}, c.errs, "record")) return;
  if (c.errs.all().size() != before) return;
  std::string name_text = "@", type_text, err, owner;
  if (n["name"] && !config::read_string(n["name"], name_text, c.errs)) return;
  if (!n["type"]) return c.errs.add(n, "record needs a type");
  if (!config::read_string(n["type"], type_text, c.errs)) return;
  auto rtype = type_from_text(type_text);
  if (!rtype) return c.errs.add(n["type"], "unknown record type '" + type_text + "'");
  if (*rtype == type::kSOA) return c.errs.add(n["type"], "set the SOA with the zone's soa: key");
  if (!text_to_name(name_text, z.origin, owner, true, err)) return c.errs.add(n["name"], err);
  if (!z.contains(owner)) return c.errs.add(n["name"], name_to_text(owner) + " is outside zone " + z.origin_text);
  RRset rs;
  rs.type = *rtype;
  rs.ttl = default_ttl;
  if (n["ttl"] && !read_ttl(n["ttl"], rs.ttl, c.errs)) return;
  if (n["policy"] && !read_policy(n["policy"], rs.policy, c.errs)) return;
  if (rs.policy == Policy::kSimple) {
    if (n["answers"]) return c.errs.add(n["answers"], "answers is for policy records; use value or values");
    if (!read_values(n, rs.type, z.origin, rs.rdatas, c)) return;
    if (rs.type == type::kCNAME && rs.rdatas.size() > 1) return c.errs.add(n, "a CNAME has one target");
  } else {
    if (n["value"] || n["values"]) return c.errs.add(n, "a policy record lists its values under answers");
    const auto& answers = n["answers"];
    if (!answers || !config::expect_sequence(answers, c.errs, "answers")) {
      if (!answers) c.errs.add(n, "a policy record needs answers");
      return;
    }
    size_t total_values = 0;
    for (const auto& a : answers) {
      PolicyChoice choice;
      if (read_choice(a, rs.policy, rs.type, z.origin, c, choice)) {
        total_values += choice.rdatas.size();
        rs.choices.push_back(std::move(choice));
      }
    }
    if (rs.choices.empty()) return c.errs.add(answers, "a policy record needs at least one answer");
    if (total_values > kMaxValuesPerRecord) return c.errs.add(answers, "too many values in one record");
    if (rs.policy == Policy::kFailover) {
      size_t primaries = std::count_if(rs.choices.begin(), rs.choices.end(), [](auto& x) { return x.primary; });
      if (primaries != 1 || rs.choices.size() > 2)
        return c.errs.add(answers, "failover needs one primary and at most one secondary");
    }
  }
  add_rrset(z, owner, std::move(rs), n.Mark(), c, "");
}

bool read_soa(const YAML::Node& n, Zone& z, std::string& rdata, uint32_t& ttl, Ctx& c) {
  if (!config::check_keys(n, {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"}, c.errs,
                          "soa"))
    return false;
  std::string mname = "ns1", rname = "hostmaster", err, wire;
  uint64_t fields[5] = {1, 3600, 600, 604800, 60};
  const char* keys[5] = {"serial", "refresh", "retry", "expire", "minimum"};
  if (n["mname"]) config::read_string(n["mname"], mname, c.errs);
  if (n["rname"]) config::read_string(n["rname"], rname, c.errs);
  for (int i = 0; i < 5; ++i)
    if (n[keys[i]]) config::read_uint(n[keys[i]], fields[i], c.errs, 0, 0xFFFFFFFF);
  if (n["ttl"]) read_ttl(n["ttl"], ttl, c.errs);
  std::vector<Token> tk{{mname}, {rname}};
  for (auto f : fields) tk.push_back({std::to_string(f)});
  if (!rdata_from_tokens(type::kSOA, tk, z.origin, rdata, err)) {
    c.errs.add(n, err);
    return false;
  }
  return true;
}

// Delegations (NS below the apex): marks the zone for the answer path and refuses what
// could never be answered as written.
void check_cuts(Zone& z, const YAML::Node& zone_node, Ctx& c) {
  // Reported in the order they were written (nodes come in hash order).
  std::vector<std::pair<std::pair<YAML::Mark, std::string>, std::string>> found;
  auto error = [&](const std::string& owner, uint16_t type, const std::string& what) {
    auto it = c.first_seen.find({owner, type});
    if (it != c.first_seen.end()) found.push_back({it->second, what});
    else found.push_back({{zone_node.Mark(), ""}, what});
  };
  for (const auto& [owner, node] : z.nodes) {
    const RRset* ns = node.find(type::kNS);
    if (!ns || owner == z.origin) continue;
    if (is_wildcard_name(owner))  // RFC 4592 §4.2: what it would delegate is undefined
      error(owner, type::kNS, "NS at the wildcard " + name_to_text(owner) + " cannot delegate");
    else if (ns->policy != Policy::kSimple)
      error(owner, type::kNS, "the NS record of the delegation " + name_to_text(owner) + " must be a simple record");
    z.has_cuts = true;
  }
  if (z.has_cuts) {
    for (const auto& [owner, node] : z.nodes) {
      std::string_view cut;
      if (!z.find_cut(owner, cut)) continue;
      // Below a cut the child zone answers: only the addresses of its name servers (glue)
      // are served from here, and at the cut only NS and glue.
      for (const auto& rs : node.rrsets) {
        if (rs.type == type::kA || rs.type == type::kAAAA || (rs.type == type::kNS && owner == cut)) continue;
        error(owner, rs.type, type_to_text(rs.type) + " at " + name_to_text(owner) + " is hidden by the delegation at " +
                                  name_to_text(cut) + ": only NS and glue (A, AAAA) are served there");
        break;
      }
      // A server named inside its own delegation can only be found through glue here.
      const RRset* ns = owner == cut ? node.find(type::kNS) : nullptr;
      for (size_t i = 0; ns && i < ns->rdatas.size(); ++i) {
        std::string server = ns->rdatas[i];
        for (auto& ch : server) ch = char(ascii_lower(uint8_t(ch)));
        if (!name_is_under(server, cut)) continue;
        const ZoneNode* addr = z.find(server);
        if (!addr || (!addr->find(type::kA) && !addr->find(type::kAAAA)))
          error(owner, type::kNS, "the delegation " + name_to_text(cut) + " names " + name_to_text(server) +
                                      ", inside it, with no A or AAAA glue for it");
      }
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& x, const auto& y) {
    const auto &a = x.first, &b = y.first;
    if (a.first.line != b.first.line) return a.first.line < b.first.line;
    if (a.first.column != b.first.column) return a.first.column < b.first.column;
    if (a.second.size() != b.second.size()) return a.second.size() < b.second.size();  // "f:9:" before "f:10:"
    return a.second < b.second;
  });
  for (const auto& [where, what] : found) c.errs.add(where.first, where.second + what);
}

void read_zone(const YAML::Node& n, Ctx& c) {
  size_t before = c.errs.all().size();
  if (!config::check_keys(n, {"origin", "file", "ttl", "soa", "records"}, c.errs, "zone")) return;
  Zone z;
  c.first_seen.clear();
  std::string origin_text, err;
  if (!n["origin"]) return c.errs.add(n, "zone needs an origin");
  if (!config::read_string(n["origin"], origin_text, c.errs)) return;
  if (origin_text.empty()) return c.errs.add(n["origin"], "origin is empty (the root zone is written \".\")");
  if (origin_text.back() != '.') origin_text.push_back('.');
  if (!text_to_name(origin_text, "", z.origin, true, err)) return c.errs.add(n["origin"], err);
  z.origin_text = name_to_text(z.origin);
  for (const auto& other : c.cfg.zones)
    if (other.origin == z.origin) return c.errs.add(n["origin"], "zone " + z.origin_text + " is defined twice");
  uint32_t default_ttl = 3600;
  if (n["ttl"]) read_ttl(n["ttl"], default_ttl, c.errs);

  uint32_t soa_ttl = default_ttl;
  std::string soa;
  if (const auto& f = n["file"]) {
    std::string file;
    if (config::read_string(f, file, c.errs)) {
      std::filesystem::path p = file;
      if (p.is_relative()) p = c.dir / p;
      std::ifstream in(p, std::ios::binary);
      if (!in) {
        c.errs.add(f, "cannot read zone file " + p.string());
      } else {
        std::stringstream ss;
        ss << in.rdbuf();
        std::vector<ZoneFileRecord> recs;
        std::vector<std::string> errors;
        parse_zone_text(ss.str(), p.string(), z.origin, default_ttl, recs, errors);
        for (const auto& e : errors) c.errs.add(f, e);
        for (auto& r : recs) {
          std::string where = p.string() + ":" + std::to_string(r.line) + ": ";
          if (!z.contains(r.owner)) {
            c.errs.add(f, where + name_to_text(r.owner) + " is outside zone " + z.origin_text);
            continue;
          }
          if (r.type == type::kSOA) {
            if (r.owner != z.origin) c.errs.add(f, where + "SOA must be at the zone origin");
            soa = r.rdata;
            soa_ttl = r.ttl;
            continue;
          }
          RRset rs;
          rs.type = r.type;
          rs.ttl = r.ttl;
          rs.rdatas.push_back(std::move(r.rdata));
          add_rrset(z, r.owner, std::move(rs), f.Mark(), c, where);
        }
      }
    }
  }
  if (const auto& s = n["soa"]) {
    if (!soa.empty()) c.errs.add(s, "the zone file already has an SOA");
    else read_soa(s, z, soa, soa_ttl, c);
  } else if (soa.empty()) {
    read_soa(YAML::Node(YAML::NodeType::Map), z, soa, soa_ttl, c);
  }
  if (const auto& rs = n["records"]) {
    if (config::expect_sequence(rs, c.errs, "records"))
      for (const auto& r : rs) read_record(r, z, default_ttl, c);
  }
  if (c.errs.all().size() != before || soa.size() < 22) return;

  z.soa_rdata = soa;
  uint32_t minimum = get32(reinterpret_cast<const uint8_t*>(soa.data() + soa.size() - 4));
  z.negative_ttl = std::min(soa_ttl, minimum);
  RRset soa_set;
  soa_set.type = type::kSOA;
  soa_set.ttl = soa_ttl;
  soa_set.rdatas.push_back(soa);
  z.nodes[z.origin].rrsets.insert(z.nodes[z.origin].rrsets.begin(), std::move(soa_set));

  // Empty non-terminals exist (RFC 8020): "b.hop.test" with only "a.b.hop.test" below it
  // is NODATA, not NXDOMAIN.
  std::vector<std::string> names;
  for (const auto& [name, node] : z.nodes) names.push_back(name);
  for (const auto& name : names) {
    std::string_view v = name;
    while (v.size() > z.origin.size()) {
      v.remove_prefix(1 + static_cast<uint8_t>(v[0]));
      z.nodes.try_emplace(std::string(v));
    }
  }
  // After the empty non-terminals: "*.b" exists, and answers, when only "x.*.b" was given;
  // and cut lookups walk down from the apex through existing names.
  for (const auto& [name, node] : z.nodes) z.has_wildcards |= is_wildcard_name(name);
  check_cuts(z, n, c);
  if (c.errs.all().size() != before) return;
  c.cfg.zones.push_back(std::move(z));
}

}  // namespace

std::shared_ptr<const DnsConfig> parse_dns_config(const YAML::Node& section, const std::filesystem::path& config_dir,
                                                  config::ConfigErrors& errs, const ClusterLookup& clusters) {
  auto cfg = std::make_shared<DnsConfig>();
  size_t before = errs.all().size();
  if (!config::check_keys(section, {"listen", "udp_payload", "query_log", "tcp", "geo", "zones"}, errs, "dns"))
    return nullptr;
  Ctx c{errs, clusters, *cfg, config_dir};
  if (const auto& l = section["listen"]) {
    auto add = [&](const YAML::Node& a) {
      core::Address addr;
      if (config::read_address(a, addr, errs)) cfg->listen.push_back(addr);
    };
    if (l.IsSequence()) for (const auto& a : l) add(a);
    else add(l);
  }
  if (cfg->listen.empty()) errs.add(section, "dns needs at least one listen address");
  uint64_t v = 0;
  if (const auto& p = section["udp_payload"])
    if (config::read_uint(p, v, errs, 512, 4096)) cfg->udp_payload = uint16_t(v);
  if (const auto& q = section["query_log"]) config::read_bool(q, cfg->query_log, errs);
  if (const auto& t = section["tcp"]) {
    if (config::check_keys(t, {"idle_timeout", "max_connections"}, errs, "dns.tcp")) {
      if (t["idle_timeout"]) config::read_timeout(t["idle_timeout"], cfg->tcp_idle_timeout, errs);
      if (t["max_connections"] && config::read_uint(t["max_connections"], v, errs, 1, 100000))
        cfg->tcp_max_connections = uint32_t(v);
    }
  }
  if (const auto& g = section["geo"]) {
    if (config::expect_map(g, errs, "dns.geo")) {
      for (auto it = g.begin(); it != g.end(); ++it) {
        std::string loc = it->first.Scalar();
        if (loc == "default") {
          errs.add(it->first, "'default' is reserved for the answer given when no location matches");
          continue;
        }
        int idx = cfg->geo.location_index(loc);
        // A copy: `it->second` is a proxy temporary that a range-for would outlive.
        YAML::Node subnets = it->second;
        if (!config::expect_sequence(subnets, errs, "a geo location's subnets")) continue;
        for (const auto& cidr : subnets) {
          if (!cidr.IsScalar() || !cfg->geo.add_cidr(cidr.Scalar(), idx))
            errs.add(cidr, "expected a subnet such as 192.0.2.0/24");
        }
      }
    }
  }
  if (const auto& zs = section["zones"]) {
    if (config::expect_sequence(zs, errs, "dns.zones"))
      for (const auto& z : zs) read_zone(z, c);
  } else {
    errs.add(section, "dns needs zones");
  }
  if (errs.all().size() != before) return nullptr;
  std::sort(cfg->zones.begin(), cfg->zones.end(),
            [](const Zone& a, const Zone& b) { return a.origin.size() > b.origin.size(); });
  return cfg;
}

std::vector<core::Address> listen_addresses(const DnsConfig& cfg) { return cfg.listen; }

}  // namespace hop::dns
