#include "dns/wire.h"

#include <cstring>

namespace hop::dns {

size_t read_name(const uint8_t* msg, size_t msg_len, size_t pos, WireName& out) {
  size_t out_len = 0;
  size_t after = 0;  // position after the name in the original stream, set at the first pointer
  size_t limit = pos;  // a pointer must target strictly below the lowest position seen
  for (;;) {
    if (pos >= msg_len) return 0;
    uint8_t len = msg[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= msg_len) return 0;
      size_t target = size_t(len & 0x3F) << 8 | msg[pos + 1];
      if (target >= limit) return 0;  // forward or self pointer: a loop or garbage
      if (after == 0) after = pos + 2;
      pos = limit = target;
      continue;
    }
    if (len & 0xC0) return 0;  // 0x40/0x80 label types are obsolete (RFC 6891 §5)
    if (out_len + 1 + len > kMaxNameWire) return 0;
    if (pos + 1 + len > msg_len) return 0;  // label past the end
    out.bytes[out_len++] = len;
    if (len == 0) {
      out.len = static_cast<uint8_t>(out_len);
      return after ? after : pos + 1;
    }
    for (size_t i = 0; i < len; ++i) out.bytes[out_len++] = ascii_lower(msg[pos + 1 + i]);
    pos += 1 + len;
  }
}

namespace {

// Skips a name without decoding it (in sections we do not use).
size_t skip_name(const uint8_t* msg, size_t len, size_t pos) {
  size_t total = 0;
  for (;;) {
    if (pos >= len) return 0;
    uint8_t l = msg[pos];
    if ((l & 0xC0) == 0xC0) return pos + 2 <= len ? pos + 2 : 0;
    if (l & 0xC0) return 0;
    total += 1 + l;
    if (total > kMaxNameWire || pos + 1 + l > len) return 0;
    if (l == 0) return pos + 1;
    pos += 1 + l;
  }
}

// RFC 7871 §6: a malformed ECS option is answered with FORMERR.
bool parse_client_subnet(const uint8_t* p, size_t len, ClientSubnet& ecs) {
  if (len < 4) return false;
  uint16_t family = get16(p);
  uint8_t source = p[2], scope = p[3];
  size_t max_bits = family == 1 ? 32 : family == 2 ? 128 : 0;
  if (max_bits == 0 || source > max_bits || scope != 0) return false;
  size_t addr_len = (source + 7) / 8;
  if (len != 4 + addr_len) return false;
  // Bits past the source prefix must be zero (§6), so two spellings of one subnet cannot
  // split a cache.
  if (source % 8 && (p[4 + addr_len - 1] & (0xFF >> (source % 8)))) return false;
  ecs.present = true;
  ecs.family = family;
  ecs.source_prefix = source;
  std::memset(ecs.address, 0, sizeof ecs.address);
  std::memcpy(ecs.address, p + 4, addr_len);
  return true;
}

// RFC 6891 §6.1.2: the OPT whose owner starts at `owner` and whose fixed fields at `fields`
// (both inside the message); false when it is malformed. It is noted, with its DO bit, before
// anything about it is judged: a FORMERR for a broken OPT still carries one (§6.1.1, §7).
bool parse_opt(const uint8_t* msg, size_t len, size_t owner, size_t fields, Query& q) {
  q.edns = true;
  uint16_t payload = get16(msg + fields + 2);
  q.udp_payload = payload < 512 ? 512 : payload;  // §6.2.3: below 512 means 512
  uint32_t ttl = get32(msg + fields + 4);
  q.edns_version = uint8_t(ttl >> 16);
  q.dnssec_ok = (ttl & 0x8000) != 0;
  uint16_t rdlen = get16(msg + fields + 8);
  if (msg[owner] != 0) return false;                // §6.1.2: the owner is the root
  if (fields + 10 + rdlen > len) return false;
  const uint8_t* rdata = msg + fields + 10;
  for (size_t o = 0; o < rdlen;) {
    if (o + 4 > rdlen) return false;
    uint16_t code = get16(rdata + o), olen = get16(rdata + o + 2);
    if (o + 4 + olen > rdlen) return false;
    // Options of a version we do not speak are not ours to interpret (§6.1.3: BADVERS).
    if (code == kEdnsOptionClientSubnet && q.edns_version == 0) {
      if (q.ecs.present || !parse_client_subnet(rdata + o + 4, olen, q.ecs)) return false;
    }
    o += 4 + olen;
  }
  return true;
}

}  // namespace

ParseResult parse_query(const uint8_t* msg, size_t len, Query& q) {
  if (len < kHeaderSize) return ParseResult::kDrop;
  q.id = get16(msg);
  q.flags = get16(msg + 2);
  if (q.flags & 0x8000) return ParseResult::kDrop;  // a response: answering could start a loop
  q.opcode = (q.flags >> 11) & 0xF;
  uint16_t qd = get16(msg + 4), an = get16(msg + 6), ns = get16(msg + 8), ar = get16(msg + 10);
  q.question_ok = false;
  q.edns = false;
  q.edns_version = 0;
  q.dnssec_ok = false;
  q.udp_payload = 512;
  q.ecs.present = false;

  // The questions, then every record: the OPT (last section) is found even when something
  // before it is wrong, so that the answer can carry one. Only a message too broken to walk
  // hides it, and then there is no telling whether the client sent one.
  size_t pos = kHeaderSize;
  for (uint16_t i = 0; i < qd && pos != 0; ++i) {
    size_t end = i == 0 ? read_name(msg, len, pos, q.qname) : skip_name(msg, len, pos);
    if (end == 0 || end + 4 > len) {
      pos = 0;
      break;
    }
    if (i == 0) {
      q.qtype = get16(msg + end);
      q.qclass = get16(msg + end + 2);
      q.question = msg + kHeaderSize;
      q.question_len = end + 4 - kHeaderSize;
      // A compressed question name can only point into the header: echoing it verbatim
      // would carry a pointer to garbage, so it is treated as malformed. Only a message
      // with one question gets it echoed (RFC 9619: QUERY has at most one).
      q.question_ok = qd == 1 && q.qname.len == end - kHeaderSize;
    }
    pos = end + 4;
  }
  bool walked = pos != 0, opt_ok = true;
  for (uint32_t i = 0, records = uint32_t(an) + ns + ar; walked && i < records; ++i) {
    size_t owner = pos;
    pos = skip_name(msg, len, pos);
    if (pos == 0 || pos + 10 > len) {
      walked = false;
      break;
    }
    uint16_t rdlen = get16(msg + pos + 8);
    if (get16(msg + pos) == type::kOPT && i >= uint32_t(an) + ns) {
      if (q.edns) opt_ok = false;  // RFC 6891 §6.1.1: one OPT only
      else if (!parse_opt(msg, len, owner, pos, q)) opt_ok = false;
    }
    if (pos + 10 + rdlen > len) walked = false;
    pos += 10 + rdlen;
  }

  if (!walked || !opt_ok) return ParseResult::kFormErr;
  if (q.edns && q.edns_version != 0) return ParseResult::kBadVers;
  // Other opcodes give the sections other meanings (UPDATE's zone and prerequisites).
  if (q.opcode != opcode::kQuery && q.opcode != opcode::kNotify) return ParseResult::kNotImp;
  // QDCOUNT 0 is no malformed message (RFC 9619): RFC 7873 §5.4 sends one to learn a server
  // cookie. hop has no cookies, and a server without them answers it with FORMERR (§5.4),
  // as Knot does -- with an OPT, since the query had one.
  if (qd != 1 || !q.question_ok) return ParseResult::kFormErr;
  // A NOTIFY may carry the zone's SOA in its answer section (RFC 1996 §3.7), an IXFR query
  // the client's SOA in authority (RFC 1995 §3); no other query has records there.
  if (q.opcode == opcode::kQuery && (an != 0 || (ns != 0 && q.qtype != type::kIXFR))) return ParseResult::kFormErr;
  return ParseResult::kOk;
}

}  // namespace hop::dns
