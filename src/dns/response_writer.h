// Writes a response into a caller's fixed buffer with name compression (RFC 1035 §4.1.4).
// Nothing here allocates: compression targets are remembered in a small fixed table, and
// when it is full names are simply written longer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dns/wire.h"

namespace hop::dns {

class ResponseWriter {
 public:
  ResponseWriter(uint8_t* buf, size_t limit) : buf_(buf), limit_(limit) {}

  // Header with zero counts; counts are patched by finish().
  void header(uint16_t id, uint16_t flags);
  // Copies the question as sent (keeping its case) and remembers `lower` at offset 12.
  bool question(const uint8_t* wire, size_t len, const WireName& lower);
  // One resource record; rdata names of CNAME/NS/PTR/MX/SOA are compressed (RFC 3597 §4
  // allows it for exactly these well-known types). False, with nothing written, when the
  // record does not fit.
  bool record(std::string_view owner, uint16_t type, uint32_t ttl, std::string_view rdata);
  // The OPT pseudo-record (RFC 6891 §6.1.2), optionally with an ECS option echoed. DO is
  // the query's: RFC 3225 §3 has it copied into the response, signed or not.
  bool opt(uint16_t payload, uint8_t extended_rcode, bool dnssec_ok, const ClientSubnet* ecs, uint8_t scope);

  enum Section { kAnswer = 0, kAuthority = 1, kAdditional = 2 };
  void set_section(Section s) { section_ = s; }
  uint16_t count(Section s) const { return counts_[s]; }
  // Drops every record written after the question: for TC responses.
  void rewind_to_question();
  // A point to come back to: an RRset that does not fit whole is left out whole (RFC 2181
  // §9), not cut in the middle.
  struct Mark {
    size_t pos, targets;
    uint16_t counts[3];
  };
  Mark mark() const { return {pos_, n_targets_, {counts_[0], counts_[1], counts_[2]}}; }
  void rewind(const Mark& m) {
    pos_ = m.pos;
    n_targets_ = m.targets;
    for (int i = 0; i < 3; ++i) counts_[i] = m.counts[i];
  }
  void set_limit(size_t limit) { limit_ = limit; }
  size_t size() const { return pos_; }
  void set_flags(uint16_t flags) { put16(buf_ + 2, flags); }
  uint16_t flags() const { return get16(buf_ + 2); }
  size_t finish();

 private:
  bool name(const uint8_t* name, size_t len);
  struct Target {
    const uint8_t* name;  // a suffix of a name we wrote, in wire form
    uint16_t len;
    uint16_t offset;      // where that suffix starts in the output
  };
  static constexpr size_t kMaxTargets = 48;

  uint8_t* buf_;
  size_t limit_;
  size_t pos_ = 0;
  size_t question_end_ = 0;
  Section section_ = kAnswer;
  uint16_t counts_[3] = {0, 0, 0};
  Target targets_[kMaxTargets];
  size_t n_targets_ = 0;
  size_t question_targets_ = 0;
};

}  // namespace hop::dns
