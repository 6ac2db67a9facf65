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
  q.ecs.present = false;
  if (qd == 1) {
    size_t p = read_name(msg, len, kHeaderSize, q.qname);
    if (p != 0 && p + 4 <= len) {
      q.qtype = get16(msg + p);
      q.qclass = get16(msg + p + 2);
      q.question = msg + kHeaderSize;
      q.question_len = p + 4 - kHeaderSize;
      // A compressed question name can only point into the header: echoing it verbatim
      // would carry a pointer to garbage, so it is treated as malformed.
      q.question_ok = q.qname.len == p - kHeaderSize;
    }
  }
  if (q.opcode != 0) return ParseResult::kNotImp;
  if (qd != 1 || !q.question_ok || an != 0 || ns != 0) return ParseResult::kFormErr;

  size_t pos = kHeaderSize + q.question_len;
  bool bad_version = false;
  for (uint16_t i = 0; i < ar; ++i) {
    size_t owner = pos;
    pos = skip_name(msg, len, pos);
    if (pos == 0 || pos + 10 > len) return ParseResult::kFormErr;
    uint16_t rtype = get16(msg + pos);
    uint16_t rdlen = get16(msg + pos + 8);
    const uint8_t* rdata = msg + pos + 10;
    if (pos + 10 + rdlen > len) return ParseResult::kFormErr;
    if (rtype == type::kOPT) {
      // RFC 6891 §6.1.1: one OPT, owned by the root; a second one is FORMERR.
      if (q.edns || msg[owner] != 0) return ParseResult::kFormErr;
      q.edns = true;
      uint16_t payload = get16(msg + pos + 2);
      q.udp_payload = payload < 512 ? 512 : payload;  // §6.2.3: below 512 means 512
      uint32_t ttl = get32(msg + pos + 4);
      q.edns_version = uint8_t(ttl >> 16);
      q.dnssec_ok = (ttl & 0x8000) != 0;
      if (q.edns_version != 0) bad_version = true;
      for (size_t o = 0; o < rdlen;) {
        if (o + 4 > rdlen) return ParseResult::kFormErr;
        uint16_t code = get16(rdata + o), olen = get16(rdata + o + 2);
        if (o + 4 + olen > rdlen) return ParseResult::kFormErr;
        if (code == kEdnsOptionClientSubnet && !bad_version) {
          if (q.ecs.present || !parse_client_subnet(rdata + o + 4, olen, q.ecs)) return ParseResult::kFormErr;
        }
        o += 4 + olen;
      }
    }
    pos += 10 + rdlen;
  }
  if (bad_version) return ParseResult::kBadVers;
  return ParseResult::kOk;
}

}  // namespace hop::dns
