#include "dns/answer.h"

#include <netinet/in.h>

#include <algorithm>

#include "dns/response_writer.h"

namespace hop::dns {

namespace {

// RFC 1034 §4.3.2 lets a server follow CNAMEs it is authoritative for; the cap stops a loop
// (a → b → a) configured by mistake from spinning.
constexpr int kMaxCnameChain = 8;

constexpr uint16_t kFlagQR = 0x8000, kFlagAA = 0x0400, kFlagTC = 0x0200, kFlagRD = 0x0100;

uint16_t response_flags(const Query& q, uint16_t rcode) {
  return uint16_t(kFlagQR | (q.flags & (0x7800 | kFlagRD)) | (rcode & 0xF));
}

ClientLocation locate(const Query& q, const sockaddr* client) {
  ClientLocation loc;
  if (q.ecs.present) {
    // ECS with source prefix 0 means "do not use my subnet" (RFC 7871 §7.1.2): fall back
    // to the source address, which is the resolver's.
    if (q.ecs.source_prefix > 0) {
      loc.family = q.ecs.family;
      loc.address = q.ecs.address;
      loc.from_ecs = true;
      return loc;
    }
  }
  if (!client) return loc;
  if (client->sa_family == AF_INET) {
    loc.family = 1;
    loc.address = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(client)->sin_addr);
  } else if (client->sa_family == AF_INET6) {
    loc.family = 2;
    loc.address = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(client)->sin6_addr);
  }
  return loc;
}

// The lower-cased copy of a name taken from rdata, for zone lookups.
void lower_name(std::string_view wire, WireName& out) {
  out.len = uint8_t(std::min(wire.size(), kMaxNameWire));
  for (size_t i = 0; i < out.len; ++i) out.bytes[i] = ascii_lower(uint8_t(wire[i]));
}

// Where the name in an NS, MX or SRV rdata starts (RFC 1035 §3.3.9, RFC 2782): the
// records whose targets' addresses go to the additional section; npos for other types.
size_t target_offset(uint16_t type) {
  switch (type) {
    case type::kNS: return 0;
    case type::kMX: return 2;
    case type::kSRV: return 6;
    default: return std::string_view::npos;
  }
}

size_t error_response(const Query& q, bool has_question, uint16_t rcode, const DnsConfig& cfg,
                      uint8_t* out, size_t cap, AnswerInfo& info) {
  ResponseWriter w(out, cap);
  w.header(q.id, response_flags(q, rcode));
  if (has_question) w.question(q.question, q.question_len, q.qname);
  if (q.edns) {
    w.set_section(ResponseWriter::kAdditional);
    w.opt(cfg.udp_payload, uint8_t(rcode >> 4), q.dnssec_ok, nullptr, 0);
  }
  info.rcode = rcode;
  return w.finish();
}

}  // namespace

size_t answer_query(const DnsConfig& cfg, const DnsHealth& health, const uint8_t* in, size_t in_len,
                    const sockaddr* client, bool tcp, Rng& rng, Query& q, uint8_t* out, size_t out_cap,
                    AnswerInfo& info) {
  info = AnswerInfo{};
  info.query = &q;
  ParseResult pr = parse_query(in, in_len, q);
  info.qtype = q.question_ok ? q.qtype : 0;
  switch (pr) {
    case ParseResult::kDrop:
      info.dropped = true;
      return 0;
    // Each with an OPT when the query had one, also when the OPT is what is wrong (RFC 6891
    // §6.1.1, §7): the client can tell a format error from a server without EDNS.
    case ParseResult::kFormErr:
      return error_response(q, q.question_ok, rcode::kFormErr, cfg, out, out_cap, info);
    case ParseResult::kNotImp:
      return error_response(q, q.question_ok, rcode::kNotImp, cfg, out, out_cap, info);
    case ParseResult::kBadVers:
      return error_response(q, q.question_ok, rcode::kBadVers, cfg, out, out_cap, info);
    case ParseResult::kOk:
      break;
  }
  // QCLASS * asks for every class, and hop holds class IN only. It answers with that data,
  // as NSD does, but not as an authority: RFC 1035 §6.2 says such an answer should never be
  // authoritative unless it covers all classes. For the same reason a negative answer to it
  // carries no SOA, which would let resolvers cache it as a denial (RFC 2308 §5).
  bool any_class = q.qclass == kClassANY;
  if (q.qclass != kClassIN && !any_class) return error_response(q, true, rcode::kRefused, cfg, out, out_cap, info);
  // hop serves no zone transfers and takes no NOTIFY (it is no secondary). As NSD answers:
  // REFUSED for a zone it serves -- RFC 1035 §4.1.1 names zone transfer as what a server may
  // refuse -- and NOTAUTH for a name that is no zone of its own (RFC 5936 §2.2.1). AXFR is
  // defined over TCP only (RFC 5936 §4.2): over UDP it is NOTIMP, as Knot and NSD say.
  if (q.opcode == opcode::kNotify || q.qtype == type::kIXFR || (q.qtype == type::kAXFR && tcp)) {
    const Zone* z = cfg.find_zone(q.qname.view());
    uint16_t rc = z && z->origin == q.qname.view() ? rcode::kRefused : rcode::kNotAuth;
    return error_response(q, true, rc, cfg, out, out_cap, info);
  }
  if (q.qtype == type::kAXFR) return error_response(q, true, rcode::kNotImp, cfg, out, out_cap, info);
  // Other meta types are looked up like any type: OPT is never stored (RFC 6891 §6.1.1) and
  // MAILB/MAILA ask for MB, MG, MR, MD, MF records (RFC 1035 §3.2.3), none of which hop
  // serves, so they get NODATA or NXDOMAIN with the SOA, as Knot and NSD answer them.
  const Zone* zone = cfg.find_zone(q.qname.view());
  if (!zone) return error_response(q, true, rcode::kRefused, cfg, out, out_cap, info);

  // Without EDNS a UDP answer is limited to 512 bytes (RFC 1035 §4.2.1); with it, to the
  // smaller of the client's and our payload size.
  size_t limit = out_cap;
  if (!tcp) limit = std::min(limit, q.edns ? std::min<size_t>(q.udp_payload, cfg.udp_payload) : size_t(512));
  size_t opt_reserve = q.edns ? 11 + (q.ecs.present ? 8 + (q.ecs.source_prefix + 7) / 8 : 0) : 0;
  ResponseWriter w(out, limit - opt_reserve);
  w.header(q.id, response_flags(q, rcode::kNoError) | (any_class ? 0 : kFlagAA));
  w.question(q.question, q.question_len, q.qname);

  ClientLocation where;
  bool located = false;
  Selection sel;
  bool geo_used = false;
  uint8_t geo_scope = 0;
  // Runs the record's policy for this client; false when it leaves nothing to answer. The
  // decision reported (metrics, query log) is the answer's, not an additional record's.
  auto choose = [&](const RRset& rs, bool answer_section) {
    if (rs.policy != Policy::kSimple && !located) {
      where = locate(q, client);
      located = true;
    }
    select_answers(rs, cfg.geo, health, where, rng, sel);
    if (answer_section && sel.decision != Decision::kSimple) info.decision = sel.decision;
    // The most specific subnet any part of the answer depended on (RFC 7871 §7.2.1).
    if (sel.geo_used) geo_used = true, geo_scope = std::max(geo_scope, sel.geo_scope);
    return sel.count != 0;
  };
  uint16_t rc = rcode::kNoError;
  bool negative = false, overflow = false;
  const ZoneNode* referral = nullptr;
  std::string_view referral_owner;
  const RRset* answered = nullptr;  // the last RRset written to the answer section
  // `name` is what is looked up (lower case); `owner` what the records are written under:
  // the same name, except that a CNAME target keeps the case it was configured with.
  std::string_view name = q.qname.view(), owner = name;
  WireName lowered[2];  // CNAME targets, lower-cased for lookup; `name` may point into either
  for (int hop = 0;; ++hop) {
    // RFC 1034 §4.3.2 step 3b: at or below a delegation the child zone answers, except for
    // DS, which belongs to the parent side of the cut. A CNAME into a delegated name ends
    // the chain (the resolver asks the child); the query itself gets a referral.
    std::string_view cut_owner;
    if (const ZoneNode* cut = zone->find_cut(name, cut_owner);
        cut && !(cut_owner == name && q.qtype == type::kDS)) {
      if (hop == 0) referral = cut, referral_owner = cut_owner;
      break;
    }
    const ZoneNode* node = zone->find(name);
    if (!node && (node = zone->find_wildcard(name))) info.wildcard = true;  // RFC 4592: under `owner`
    if (!node) {
      rc = rcode::kNXDomain;
      negative = true;
      break;
    }
    const RRset* rs = nullptr;
    bool follow = false;
    if (q.qtype != type::kCNAME && (rs = node->find(type::kCNAME))) {
      follow = true;
    } else if (q.qtype == type::kANY) {
      // RFC 8482 §4.2: answer ANY with one RRset of the name rather than all of them.
      rs = node->rrsets.empty() ? nullptr : &node->rrsets.front();
    } else {
      rs = node->find(q.qtype);
    }
    if (!rs || !choose(*rs, true)) {
      negative = true;  // NODATA (also a geo record with no answer for this client and no default)
      break;
    }
    for (size_t i = 0; i < sel.count && !overflow; ++i)
      overflow = !w.record(owner, rs->type, rs->ttl, *sel.rdatas[i]);
    answered = rs;
    if (overflow || !follow) break;
    // Follow the target inside this zone only; an outside target ends the chain and the
    // client's resolver continues from there.
    if (hop + 1 >= kMaxCnameChain) break;
    // Lower-cased copy: zone keys are lower case, rdata keeps the configured case. Two
    // copies in turn, because `name` may still point into the previous one.
    const std::string& target = *sel.rdatas[0];
    WireName& next = lowered[hop & 1];
    lower_name(target, next);
    if (next.view() == name || !zone->contains(next.view())) break;
    name = next.view();
    owner = target;
  }
  // The addresses this zone holds for `server` into the additional section, each RRset
  // whole or not at all (RFC 2181 §9); false when one did not fit. Policy records answer
  // as they would to an A or AAAA query. A server named twice gets its addresses once.
  const ZoneNode* done[kMaxSelected];
  size_t n_done = 0;
  auto add_addresses = [&](const WireName& server) {
    auto it = zone->nodes.find(server.view());
    if (it == zone->nodes.end()) return true;
    if (std::find(done, done + n_done, &it->second) != done + n_done) return true;
    if (n_done < kMaxSelected) done[n_done++] = &it->second;
    for (uint16_t t : {type::kA, type::kAAAA}) {
      const RRset* addr = it->second.find(t);
      if (!addr || !choose(*addr, false)) continue;
      auto before = w.mark();
      for (size_t k = 0; k < sel.count; ++k) {
        if (w.record(it->first, t, addr->ttl, *sel.rdatas[k])) continue;
        w.rewind(before);
        return false;
      }
    }
    return true;
  };
  if (referral) {
    info.referral = true;
    // Not authoritative here: no AA, the child's NS set in authority, and the addresses of
    // its name servers that this zone holds (glue) in additional. Glue for servers inside
    // the delegation is required (RFC 9471): without room for it the answer is truncated;
    // the other addresses go first, while there is room.
    w.set_flags(uint16_t(w.flags() & ~kFlagAA));
    w.set_section(ResponseWriter::kAuthority);
    const RRset& ns = *referral->find(type::kNS);
    for (size_t i = 0; i < ns.rdatas.size() && !overflow; ++i)
      overflow = !w.record(referral_owner, type::kNS, ns.ttl, ns.rdatas[i]);
    w.set_section(ResponseWriter::kAdditional);
    bool full = false;
    for (bool required : {true, false}) {
      for (size_t i = 0; i < ns.rdatas.size() && !full && !overflow; ++i) {
        WireName server;
        lower_name(ns.rdatas[i], server);
        if (name_is_under(server.view(), referral_owner) != required) continue;
        full = !add_addresses(server);
        if (full && required) overflow = true;
      }
    }
  } else if (!overflow && !negative && answered && target_offset(answered->type) != std::string_view::npos) {
    // Additional section processing (RFC 1035 §3.3.9, RFC 2782): the addresses of in-zone
    // targets of the NS, MX or SRV records answered, as far as they fit; never a reason to
    // truncate.
    Selection targets = sel;  // add_addresses reuses sel
    size_t off = target_offset(answered->type);
    w.set_section(ResponseWriter::kAdditional);
    for (size_t i = 0; i < targets.count; ++i) {
      const std::string& rdata = *targets.rdatas[i];
      if (rdata.size() <= off) continue;
      WireName target;
      lower_name(std::string_view(rdata).substr(off), target);
      std::string_view cut;  // below a delegation an address is glue, not this zone's to give
      if (!zone->contains(target.view()) || zone->find_cut(target.view(), cut)) continue;
      if (!add_addresses(target)) break;
    }
  }
  if (!overflow && negative && !any_class) {
    // RFC 2308 §3: the SOA in the authority section, with its TTL capped at MINIMUM, is what
    // lets resolvers cache the negative answer.
    w.set_section(ResponseWriter::kAuthority);
    overflow = !w.record(zone->origin, type::kSOA, zone->negative_ttl, zone->soa_rdata);
  }
  if (overflow) {
    // RFC 7766 §5 / RFC 1035 §4.2.1: drop the records and set TC so the client retries
    // over TCP, where the full answer fits.
    w.rewind_to_question();
    w.set_flags(w.flags() | kFlagTC);
    info.truncated = true;
  }
  w.set_flags(uint16_t((w.flags() & ~0xF) | rc));
  w.set_limit(limit);
  if (q.edns) {
    w.set_section(ResponseWriter::kAdditional);
    // ECS echoed with scope 0 unless the answer depended on the subnet (RFC 7871 §7.2.1).
    w.opt(cfg.udp_payload, 0, q.dnssec_ok, q.ecs.present ? &q.ecs : nullptr,
          geo_used && where.from_ecs ? geo_scope : 0);
  }
  info.rcode = rc;
  return w.finish();
}

}  // namespace hop::dns
