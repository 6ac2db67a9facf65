#include "trace/server_timing.h"

#include <gtest/gtest.h>

namespace hop::trace {
namespace {

std::vector<ServerTimingEntry> parse(std::string_view v) {
  std::vector<ServerTimingEntry> out;
  parse_server_timing(v, out);
  return out;
}

TEST(ServerTiming, ParsesHopsOwnHeader) {
  auto e = parse(
      "hop-pre;dur=0.05, upstream-connect;dur=0.31;desc=\"new\", "
      "upstream-ttfb;dur=200.4;desc=\"127.0.0.1:9101\", retries;dur=0;desc=\"0\", hop-total;dur=201.0");
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e[0].name, "hop-pre");
  EXPECT_DOUBLE_EQ(*e[0].dur, 0.05);
  EXPECT_EQ(e[1].desc, "new");
  EXPECT_EQ(e[2].desc, "127.0.0.1:9101");
  EXPECT_DOUBLE_EQ(*e[2].dur, 200.4);
  EXPECT_EQ(e[3].desc, "0");
  EXPECT_DOUBLE_EQ(*e[4].dur, 201.0);
}

TEST(ServerTiming, NameOnlyMetricHasNoDuration) {
  auto e = parse("miss");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_FALSE(e[0].dur.has_value());
  EXPECT_EQ(e[0].desc, "");
}

TEST(ServerTiming, TokenDescAndCaseInsensitiveParamNames) {
  auto e = parse("cache;DESC=hit;Dur=2.5");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].desc, "hit");
  EXPECT_DOUBLE_EQ(*e[0].dur, 2.5);
}

TEST(ServerTiming, QuotedDescKeepsCommasSemicolonsAndEscapes) {
  auto e = parse(R"(db;desc="a, b; \"c\"";dur=1, next)");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].desc, "a, b; \"c\"");
  EXPECT_EQ(e[1].name, "next");
}

TEST(ServerTiming, OnlyFirstDurAndDescCount) {
  auto e = parse("x;dur=1;dur=2;desc=a;desc=b");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_DOUBLE_EQ(*e[0].dur, 1);
  EXPECT_EQ(e[0].desc, "a");
}

TEST(ServerTiming, UnknownParamsAreIgnored) {
  auto e = parse("x;foo=bar;dur=3");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_DOUBLE_EQ(*e[0].dur, 3);
}

TEST(ServerTiming, WhitespaceAroundSeparators) {
  auto e = parse("  a ; dur = 1 ,\tb;desc = \"x\"  ");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_DOUBLE_EQ(*e[0].dur, 1);
  EXPECT_EQ(e[1].desc, "x");
}

TEST(ServerTiming, MalformedMetricIsSkippedOthersKept) {
  auto e = parse("good;dur=1, ;dur=2, bad;desc=\"unterminated, after;dur=3");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].name, "good");
  e = parse("a;dur=1, =oops, b;dur=2");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[1].name, "b");
}

TEST(ServerTiming, InvalidDurationIsDroppedNotTheMetric) {
  auto e = parse("x;dur=abc, y;dur=-1");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_FALSE(e[0].dur.has_value());
  EXPECT_FALSE(e[1].dur.has_value());
}

TEST(ServerTiming, EntryCountIsBounded) {
  std::string many;
  for (int i = 0; i < 1000; ++i) many.append("m").append(std::to_string(i)).append(";dur=1,");
  EXPECT_EQ(parse(many).size(), kMaxServerTimingEntries);
}

TEST(ServerTiming, EmptyValueGivesNothing) {
  EXPECT_TRUE(parse("").empty());
  EXPECT_TRUE(parse(" , ,").empty());
}

}  // namespace
}  // namespace hop::trace
