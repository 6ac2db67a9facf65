#include "dns/response_writer.h"

#include <cstring>

namespace hop::dns {

namespace {
bool names_equal(const uint8_t* a, const uint8_t* b, size_t len) {
  for (size_t i = 0; i < len; ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}
}  // namespace

void ResponseWriter::header(uint16_t id, uint16_t flags) {
  std::memset(buf_, 0, kHeaderSize);
  put16(buf_, id);
  put16(buf_ + 2, flags);
  pos_ = question_end_ = kHeaderSize;
  n_targets_ = question_targets_ = 0;
  counts_[0] = counts_[1] = counts_[2] = 0;
}

bool ResponseWriter::question(const uint8_t* wire, size_t len, const WireName& lower) {
  if (pos_ + len > limit_) return false;
  std::memcpy(buf_ + pos_, wire, len);
  put16(buf_ + 4, 1);
  // Remember each suffix of the question name: owners equal to it become a 2-byte pointer.
  for (size_t p = 0; lower.bytes[p] != 0 && n_targets_ < kMaxTargets; p += 1 + lower.bytes[p])
    targets_[n_targets_++] = {lower.bytes + p, uint16_t(lower.len - p), uint16_t(pos_ + p)};
  pos_ += len;
  question_end_ = pos_;
  question_targets_ = n_targets_;
  return true;
}

bool ResponseWriter::name(const uint8_t* n, size_t len) {
  size_t p = 0;
  while (n[p] != 0) {
    size_t suffix_len = len - p;
    for (size_t i = 0; i < n_targets_; ++i) {
      const Target& t = targets_[i];
      if (t.len == suffix_len && names_equal(t.name, n + p, suffix_len)) {
        if (pos_ + 2 > limit_) return false;
        put16(buf_ + pos_, uint16_t(0xC000 | t.offset));
        pos_ += 2;
        return true;
      }
    }
    size_t label = 1 + n[p];
    if (pos_ + label > limit_) return false;
    if (n_targets_ < kMaxTargets && pos_ < 0x4000) targets_[n_targets_++] = {n + p, uint16_t(suffix_len), uint16_t(pos_)};
    std::memcpy(buf_ + pos_, n + p, label);
    pos_ += label;
    p += label;
  }
  if (pos_ + 1 > limit_) return false;
  buf_[pos_++] = 0;
  return true;
}

bool ResponseWriter::record(std::string_view owner, uint16_t type, uint32_t ttl, std::string_view rdata) {
  size_t start = pos_, start_targets = n_targets_;
  auto undo = [&] {
    pos_ = start;
    n_targets_ = start_targets;
    return false;
  };
  const auto* o = reinterpret_cast<const uint8_t*>(owner.data());
  if (!name(o, owner.size())) return undo();
  if (pos_ + 10 > limit_) return undo();
  put16(buf_ + pos_, type);
  put16(buf_ + pos_ + 2, kClassIN);
  put32(buf_ + pos_ + 4, ttl);
  size_t rdlen_at = pos_ + 8;
  pos_ += 10;
  const auto* r = reinterpret_cast<const uint8_t*>(rdata.data());
  size_t fixed_prefix = 0, names = 0;
  switch (type) {
    case type::kCNAME: case type::kNS: case type::kPTR: names = 1; break;
    case type::kMX: fixed_prefix = 2, names = 1; break;
    case type::kSOA: names = 2; break;
    default: break;
  }
  if (names == 0) {
    if (pos_ + rdata.size() > limit_) return undo();
    std::memcpy(buf_ + pos_, r, rdata.size());
    pos_ += rdata.size();
  } else {
    // Zone rdata is uncompressed and validated at load, so walking its names is safe.
    if (pos_ + fixed_prefix > limit_) return undo();
    std::memcpy(buf_ + pos_, r, fixed_prefix);
    pos_ += fixed_prefix;
    size_t p = fixed_prefix;
    for (size_t k = 0; k < names; ++k) {
      size_t nlen = 0;
      while (r[p + nlen] != 0) nlen += 1 + r[p + nlen];
      ++nlen;
      if (!name(r + p, nlen)) return undo();
      p += nlen;
    }
    size_t rest = rdata.size() - p;  // SOA's five numbers
    if (pos_ + rest > limit_) return undo();
    std::memcpy(buf_ + pos_, r + p, rest);
    pos_ += rest;
  }
  put16(buf_ + rdlen_at, uint16_t(pos_ - rdlen_at - 2));
  ++counts_[section_];
  return true;
}

bool ResponseWriter::opt(uint16_t payload, uint8_t extended_rcode, bool dnssec_ok, const ClientSubnet* ecs,
                         uint8_t scope) {
  size_t addr_len = ecs ? (ecs->source_prefix + 7) / 8 : 0;
  size_t opt_len = ecs ? 4 + 4 + addr_len : 0;
  if (pos_ + 11 + opt_len > limit_) return false;
  uint8_t* p = buf_ + pos_;
  p[0] = 0;  // root owner
  put16(p + 1, type::kOPT);
  put16(p + 3, payload);
  p[5] = extended_rcode;
  p[6] = 0;  // version 0
  put16(p + 7, dnssec_ok ? 0x8000 : 0);  // DO, then the Z bits, which are zero
  put16(p + 9, uint16_t(opt_len));
  if (ecs) {
    put16(p + 11, kEdnsOptionClientSubnet);
    put16(p + 13, uint16_t(4 + addr_len));
    put16(p + 15, ecs->family);
    p[17] = ecs->source_prefix;
    p[18] = scope;
    std::memcpy(p + 19, ecs->address, addr_len);
  }
  pos_ += 11 + opt_len;
  ++counts_[kAdditional];
  return true;
}

void ResponseWriter::rewind_to_question() {
  pos_ = question_end_;
  n_targets_ = question_targets_;
  counts_[0] = counts_[1] = counts_[2] = 0;
}

size_t ResponseWriter::finish() {
  put16(buf_ + 6, counts_[0]);
  put16(buf_ + 8, counts_[1]);
  put16(buf_ + 10, counts_[2]);
  return pos_;
}

}  // namespace hop::dns
