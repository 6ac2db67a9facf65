#include <gtest/gtest.h>

#include "config/base/yaml_reader.h"
#include "core/socket.h"

using namespace hop;

TEST(ConfigValues, ParsesDurationsWithUnits) {
  EXPECT_EQ(config::parse_duration("250ms")->count(), 250);
  EXPECT_EQ(config::parse_duration("1s")->count(), 1000);
  EXPECT_EQ(config::parse_duration("1.5s")->count(), 1500);
  EXPECT_EQ(config::parse_duration("2m")->count(), 120000);
  EXPECT_FALSE(config::parse_duration("10"));
  EXPECT_FALSE(config::parse_duration("s"));
  EXPECT_FALSE(config::parse_duration("1sec"));
}

TEST(ConfigValues, ParsesSizesWithBinaryUnits) {
  EXPECT_EQ(*config::parse_size("512"), 512u);
  EXPECT_EQ(*config::parse_size("64KiB"), 65536u);
  EXPECT_EQ(*config::parse_size("1MiB"), 1048576u);
  EXPECT_FALSE(config::parse_size("1XB"));
  EXPECT_FALSE(config::parse_size("99999999999999999999GiB"));
}

TEST(ConfigValues, ReportsUnknownKeysWithPosition) {
  YAML::Node n = YAML::Load("a: 1\nbogus: 2\n");
  config::ConfigErrors errs("f.yaml");
  config::check_keys(n, {"a"}, errs, "test");
  ASSERT_EQ(errs.all().size(), 1u);
  EXPECT_EQ(errs.all()[0].to_string().rfind("f.yaml:2:1: unknown key 'bogus'", 0), 0u);
}

TEST(Address, ParsesV4AndBracketedV6) {
  auto a = core::Address::parse("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "127.0.0.1:8080");
  auto b = core::Address::parse("[::1]:53");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->to_string(), "[::1]:53");
  EXPECT_FALSE(core::Address::parse("::1:53"));
  EXPECT_FALSE(core::Address::parse("127.0.0.1"));
  EXPECT_FALSE(core::Address::parse("127.0.0.1:70000"));
  EXPECT_FALSE(core::Address::parse("example.com:80"));
}
