#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "core/socket.h"

using hop::core::Address;

TEST(Address, HostFormatsIpv4LikeInetNtop) {
  // Every octet value in every position, against the libc formatter.
  for (unsigned v = 0; v < 256; ++v) {
    for (int pos = 0; pos < 4; ++pos) {
      uint8_t octets[4] = {127, 0, 0, 1};
      octets[pos] = static_cast<uint8_t>(v);
      char want[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, octets, want, sizeof want);
      auto a = Address::from_ip(want, 80);
      ASSERT_TRUE(a) << want;
      EXPECT_EQ(a->host(), want);
    }
  }
  EXPECT_EQ(Address::from_ip("255.255.255.255", 1)->host(), "255.255.255.255");
  EXPECT_EQ(Address::from_ip("0.0.0.0", 1)->host(), "0.0.0.0");
  EXPECT_EQ(Address::from_ip("10.20.3.100", 8080)->to_string(), "10.20.3.100:8080");
}

TEST(Address, HostFormatsIpv6) {
  EXPECT_EQ(Address::from_ip("::1", 443)->host(), "::1");
  EXPECT_EQ(Address::from_ip("::1", 443)->to_string(), "[::1]:443");
  EXPECT_EQ(Address::from_ip("2001:db8::a:1", 1)->host(), "2001:db8::a:1");
}
