// The PROXY protocol header parser: both versions, every prefix of a valid header is
// incomplete (never an error, never ok), and what a load balancer would never send is an error.
#include <gtest/gtest.h>

#include <string>

#include "core/proxy_header.h"

using namespace hop::core;

namespace {

ProxyHeaderResult parse(const std::string& s, ProxyHeader& h) { return parse_proxy_header(s.data(), s.size(), h); }

std::string v2(uint8_t cmd, uint8_t fam, const std::string& addrs, const std::string& tlvs = "") {
  std::string s("\r\n\r\n\0\r\nQUIT\n", 12);
  s += char(0x20 | cmd);
  s += char(fam);
  size_t n = addrs.size() + tlvs.size();
  s += char(n >> 8);
  s += char(n & 0xff);
  return s + addrs + tlvs;
}

void every_prefix_is_incomplete(const std::string& whole) {
  for (size_t k = 0; k < whole.size(); ++k) {
    ProxyHeader h;
    EXPECT_EQ(parse(whole.substr(0, k), h), ProxyHeaderResult::kIncomplete) << "prefix of " << k << " bytes";
  }
}

}  // namespace

TEST(ProxyHeader, V1Tcp4) {
  std::string hdr = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
  ProxyHeader h;
  ASSERT_EQ(parse(hdr + "GET / HTTP/1.1\r\n", h), ProxyHeaderResult::kOk);
  EXPECT_EQ(h.length, hdr.size());
  ASSERT_TRUE(h.has_source);
  EXPECT_EQ(h.source.to_string(), "192.0.2.7:56324");
  every_prefix_is_incomplete(hdr);
}

TEST(ProxyHeader, V1Tcp6AndUnknown) {
  ProxyHeader h;
  ASSERT_EQ(parse("PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n", h), ProxyHeaderResult::kOk);
  EXPECT_EQ(h.source.to_string(), "[2001:db8::7]:1");
  ASSERT_EQ(parse("PROXY UNKNOWN\r\n", h), ProxyHeaderResult::kOk);
  EXPECT_FALSE(h.has_source);
  EXPECT_EQ(h.length, 15u);
  ASSERT_EQ(parse("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", h), ProxyHeaderResult::kOk);
  EXPECT_FALSE(h.has_source);
}

TEST(ProxyHeader, V1Malformed) {
  for (const char* bad : {"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n",        // a field short
                          "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443 x\r\n",  // one too many
                          "PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",       // family mismatch
                          "PROXY TCP4 192.0.2.7 198.51.100.1 65536 443\r\n",   // port range
                          "PROXY TCP4 192.0.2.7 198.51.100.1 0443 443\r\n",    // leading zero
                          "PROXY TCP4 192.0.2.7 198.51.100.1 -1 443\r\n",
                          "PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n",        // double space
                          "PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",
                          "PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n",           // bare LF
                          "proxy TCP4 192.0.2.7 198.51.100.1 1 2\r\n",
                          "PROXY TCP4 192.0.2.7 198.51.100.1 1 2 \r\n",      // trailing space
                          "GET / HTTP/1.1\r\n"}) {
    ProxyHeader h;
    EXPECT_EQ(parse(bad, h), ProxyHeaderResult::kError) << bad;
  }
  ProxyHeader h;
  EXPECT_EQ(parse("PROXY TCP4 " + std::string(200, '1'), h), ProxyHeaderResult::kError) << "no end in 107 bytes";
  std::string nul("PROXY TCP4 192.0.2.7\0junk 198.51.100.1 1 2\r\n", 44);
  EXPECT_EQ(parse(nul, h), ProxyHeaderResult::kError) << "inet_pton would stop at the NUL";
  // The longest legal line is 107 bytes: TCP6 with two full-length addresses and ports.
  std::string ip(39, 'f');
  for (size_t i = 4; i < ip.size(); i += 5) ip[i] = ':';
  std::string longest = "PROXY TCP6 " + ip + " " + ip + " 65535 65535\r\n";
  ASSERT_EQ(longest.size(), 104u);  // (the spec's 107 counts "UNKNOWN" lines with anything in them)
  EXPECT_EQ(parse(longest, h), ProxyHeaderResult::kOk);
  std::string unknown = "PROXY UNKNOWN " + std::string(107 - 16, 'x') + "\r\n";
  ASSERT_EQ(unknown.size(), 107u);
  EXPECT_EQ(parse(unknown, h), ProxyHeaderResult::kOk);
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(108 - 16, 'x') + "\r\n", h), ProxyHeaderResult::kError);
}

TEST(ProxyHeader, V2Tcp4Tcp6WithTlvs) {
  std::string a4 = std::string("\xc0\x00\x02\x07", 4) + std::string("\xc6\x33\x64\x01", 4) + "\xdc\x04" + "\x01\xbb";
  std::string hdr = v2(1, 0x11, a4, std::string("\x03\x00\x04zzzz", 7));  // a CRC32C TLV, skipped
  ProxyHeader h;
  ASSERT_EQ(parse(hdr + "GET", h), ProxyHeaderResult::kOk);
  EXPECT_EQ(h.length, hdr.size());
  EXPECT_EQ(h.source.to_string(), "192.0.2.7:56324");
  every_prefix_is_incomplete(hdr);
  std::string a6(36, '\0');
  a6[0] = '\x20', a6[1] = '\x01', a6[2] = '\x0d', a6[3] = '\xb8', a6[15] = '\x07';
  a6[32] = '\x00', a6[33] = '\x50';
  ASSERT_EQ(parse(v2(1, 0x21, a6), h), ProxyHeaderResult::kOk);
  EXPECT_EQ(h.source.to_string(), "[2001:db8::7]:80");
}

TEST(ProxyHeader, V2LocalUnspecAndUdpKeepTheSocketAddress) {
  ProxyHeader h;
  ASSERT_EQ(parse(v2(0, 0x00, ""), h), ProxyHeaderResult::kOk);  // LOCAL: a health check
  EXPECT_FALSE(h.has_source);
  EXPECT_EQ(h.length, 16u);
  ASSERT_EQ(parse(v2(1, 0x12, std::string(12, '\1')), h), ProxyHeaderResult::kOk);  // UDP over IPv4
  EXPECT_FALSE(h.has_source);
  ASSERT_EQ(parse(v2(1, 0x31, std::string(216, 'u')), h), ProxyHeaderResult::kOk);  // UNIX
  EXPECT_FALSE(h.has_source);
}

TEST(ProxyHeader, V2Malformed) {
  ProxyHeader h;
  std::string hdr = v2(1, 0x11, std::string(12, '\1'));
  std::string bad_version = hdr;
  bad_version[12] = '\x11';
  EXPECT_EQ(parse(bad_version, h), ProxyHeaderResult::kError);
  std::string bad_command = hdr;
  bad_command[12] = '\x22';
  EXPECT_EQ(parse(bad_command, h), ProxyHeaderResult::kError);
  EXPECT_EQ(parse(v2(1, 0x11, std::string(11, '\1')), h), ProxyHeaderResult::kError);  // short addresses
  EXPECT_EQ(parse(v2(1, 0x21, std::string(35, '\1')), h), ProxyHeaderResult::kError);
  EXPECT_EQ(parse(v2(1, 0x41, std::string(12, '\1')), h), ProxyHeaderResult::kError);  // no such family
  EXPECT_EQ(parse(v2(1, 0x13, std::string(12, '\1')), h), ProxyHeaderResult::kError);  // no such transport
  EXPECT_EQ(parse(v2(0, 0x52, ""), h), ProxyHeaderResult::kError) << "even with LOCAL";
  std::string huge = v2(1, 0x11, std::string(12, '\1'));
  huge[14] = '\x20';  // 8 KiB announced: over the bound, refused before waiting for it
  EXPECT_EQ(parse(huge, h), ProxyHeaderResult::kError);
  std::string sig_off = hdr;
  sig_off[5] = 'x';
  EXPECT_EQ(parse(sig_off, h), ProxyHeaderResult::kError);
}

TEST(ProxyHeader, Ipv4MappedSourcesAreTheIpv4Client) {
  ProxyHeader h;
  ASSERT_EQ(parse("PROXY TCP6 ::ffff:192.0.2.7 ::1 4000 80\r\n", h), ProxyHeaderResult::kOk);
  EXPECT_EQ(h.source.to_string(), "192.0.2.7:4000");
  std::string a6(36, '\0');
  a6[10] = a6[11] = '\xff';
  a6[12] = '\xc6', a6[13] = '\x33', a6[14] = '\x64', a6[15] = '\x17';
  a6[32] = '\x01', a6[33] = '\xbb';
  ASSERT_EQ(parse(v2(1, 0x21, a6), h), ProxyHeaderResult::kOk);
  EXPECT_EQ(h.source.to_string(), "198.51.100.23:443");
}
