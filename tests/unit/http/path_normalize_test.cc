#include "http/path_normalize.h"

#include <gtest/gtest.h>

using hop::http::normalize_path;
using hop::http::PathNormalization;

namespace {
// The normal form of `path`, "=" when it is already normal, "!" when invalid.
std::string norm(std::string_view path) {
  std::string out = "untouched", scratch;
  switch (normalize_path(path, out, scratch)) {
    case PathNormalization::kUnchanged:
      return "=";
    case PathNormalization::kChanged:
      return out;
    case PathNormalization::kInvalid:
      return "!";
  }
  return "?";
}
}  // namespace

TEST(PathNormalize, NormalPathsAreLeftAlone) {
  // Not origin-form ("*", "", "x/../y") is not touched either.
  for (const char* p : {"/", "/a", "/a/b/", "/a.b/c..d/.e/..f/", "/~user/x-y_z", "*", "", "x/../y"})
    EXPECT_EQ(norm(p), "=") << p;
}

TEST(PathNormalize, DotSegmentsAreRemovedAndNeverClimbAboveTheRoot) {
  EXPECT_EQ(norm("/public/../admin"), "/admin");
  EXPECT_EQ(norm("/a/./b"), "/a/b");
  EXPECT_EQ(norm("/a/b/.."), "/a/");
  EXPECT_EQ(norm("/a/b/."), "/a/b/");
  EXPECT_EQ(norm("/.."), "/");
  EXPECT_EQ(norm("/../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(norm("/a/../../b/"), "/b/");
  EXPECT_EQ(norm("/."), "/");
  EXPECT_EQ(norm("/a/.."), "/");
}

TEST(PathNormalize, SlashRunsAreMerged) {
  EXPECT_EQ(norm("//admin"), "/admin");
  EXPECT_EQ(norm("/a//b///c//"), "/a/b/c/");
  EXPECT_EQ(norm("//"), "/");
}

TEST(PathNormalize, UnreservedEscapesAreDecodedOthersUpperCased) {
  EXPECT_EQ(norm("/%61dmin"), "/admin");
  EXPECT_EQ(norm("/public/%2e%2E/admin"), "/admin");  // encoded dots are dots
  EXPECT_EQ(norm("/a%2fb"), "/a%2Fb");                // an encoded slash stays one segment
  EXPECT_EQ(norm("/a%2Fb"), "=");
  EXPECT_EQ(norm("/x%20y%7e"), "/x%20y~");
  EXPECT_EQ(norm("/%00"), "=");  // not decoded: stays an escape for the upstream to judge
}

TEST(PathNormalize, BrokenEscapesAreInvalid) {
  for (const char* p : {"/%", "/%4", "/%zz", "/a%g1", "/%%41"}) EXPECT_EQ(norm(p), "!") << p;
}

TEST(PathNormalize, TheResultIsNormal) {
  for (const char* p : {"/a/./b/../c//d/%2e/", "/%2e%2e/%2E/x", "/../a/b/../../.."}) {
    std::string out, scratch, again, s2;
    ASSERT_EQ(normalize_path(p, out, scratch), PathNormalization::kChanged) << p;
    EXPECT_EQ(normalize_path(out, again, s2), PathNormalization::kUnchanged) << out;
  }
}
