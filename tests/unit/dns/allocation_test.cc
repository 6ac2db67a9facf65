// The answer path must not allocate: a worker answers from the zone into a fixed buffer.
// Counting operator new over the whole test binary is crude but exact for this thread.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>

#include "dns/answer.h"
#include "dns_test_util.h"

// GCC 12 flags free() in a replaced operator delete as mismatched; it is the matching malloc.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
thread_local bool g_counting = false;
thread_local size_t g_allocations = 0;
}  // namespace

// AddressSanitizer replaces operator new itself; counting is for the normal build.
#ifndef __SANITIZE_ADDRESS__
void* operator new(size_t n) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#endif

using namespace hop;
using namespace hop::dns;
using namespace hop::dns::testing;

TEST(DnsAllocation, AnswerPathDoesNotAllocate) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "allocation counting needs the non-sanitized build";
#endif
  core::EventLoop loop;
  health::HealthChecker checker(loop);
  config::ConfigErrors errs("t");
  auto path = std::filesystem::path(__FILE__).parent_path() / "../../../examples/dns.yaml";
  auto cfg = parse_dns_config(YAML::LoadFile(path.string())["dns"], ".", errs);
  ASSERT_TRUE(cfg) << errs.to_string();
  auto health = bind_health(*cfg, checker, {});
  std::vector<std::vector<uint8_t>> queries = {
      make_query("ns1.hop.test.", type::kA),          make_query("www.hop.test.", type::kA),
      make_query("feed.hop.test.", type::kA),         make_query("api.hop.test.", type::kA),
      make_query("geo.hop.test.", type::kA, with_ecs("192.0.2.0/24")),
      make_query("nope.hop.test.", type::kA),         make_query("big.hop.test.", type::kTXT),
      make_query("hop.test.", type::kANY),            make_query("example.com.", type::kA),
      make_query("hop.test.", type::kMX, no_edns()),  make_query("x.hop.test.", type::kA, edns_version(1)),
  };
  std::vector<uint8_t> out(kMaxTcpMessage);
  Rng rng(1);
  Query q;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  AnswerInfo info;
  // One warm-up round: the CNAME path's thread-local scratch string grows once.
  for (const auto& m : queries)
    answer_query(*cfg, *health, m.data(), m.size(), reinterpret_cast<sockaddr*>(&src), false, rng, q, out.data(), 4096,
                 info);
  g_allocations = 0;
  g_counting = true;
  for (int round = 0; round < 1000; ++round)
    for (const auto& m : queries)
      for (bool tcp : {false, true})
        answer_query(*cfg, *health, m.data(), m.size(), reinterpret_cast<sockaddr*>(&src), tcp, rng, q, out.data(),
                     tcp ? out.size() : 4096, info);
  g_counting = false;
  EXPECT_EQ(g_allocations, 0u);
  // The counter itself works.
  static int* volatile sink;  // volatile: new/delete pairs may otherwise be elided
  g_counting = true;
  sink = new int(1);
  g_counting = false;
  delete sink;
  EXPECT_EQ(g_allocations, 1u);
}
