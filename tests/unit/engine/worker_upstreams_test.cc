#include <gtest/gtest.h>

#include "upstream/worker_upstreams.h"

using namespace hop;
using namespace hop::upstream;

namespace {
// (GCC 12 at -O3 warns -Wrestrict, wrongly, on `name = "a"` into a config struct here.)
config::ClusterConfig cluster_named(std::string name) {
  config::ClusterConfig c;
  c.name = std::move(name);
  return c;
}

Host host(const std::string& name) {
  Host h;
  h.name = name;
  h.address = *core::Address::parse(name);
  h.outlier = std::make_shared<HostOutlier>();
  return h;
}
}  // namespace

TEST(WorkerUpstreams, Http2ClustersGetH2PoolsKeptAcrossReloads) {
  core::EventLoop loop;
  core::BufferPool buffers;
  stats::ClusterStats st;
  config::ClusterConfig a = cluster_named("a"), b = cluster_named("b");
  a.protocol = config::UpstreamProtocol::kH2c;
  std::vector<Cluster> both;
  both.emplace_back(a, std::vector<Host>{host("127.0.0.1:1"), host("127.0.0.1:2")}, std::vector<stats::ClusterStats*>{&st});
  both.emplace_back(b, std::vector<Host>{host("127.0.0.1:3")}, std::vector<stats::ClusterStats*>{&st});
  {
    WorkerUpstreams wu(loop, buffers, 0, 16 * 1024);
    wu.apply(both);
    EXPECT_EQ(wu.h2pool_count(), 2u);  // only cluster a speaks HTTP/2
    EXPECT_EQ(wu.pool_count(), 3u);
    H2Pool* p = &wu.h2pool(0, 1);
    wu.apply(both);
    EXPECT_EQ(&wu.h2pool(0, 1), p);  // a reload keeps the pool (and its sessions)
    EXPECT_EQ(&wu.h2pool_for(both[0], both[0].hosts()[1]), p);

    std::vector<Cluster> only_b;
    only_b.emplace_back(b, std::vector<Host>{host("127.0.0.1:3")}, std::vector<stats::ClusterStats*>{&st});
    wu.apply(only_b);
    EXPECT_EQ(wu.h2pool_count(), 0u);
    // A request still on the old snapshot gets a draining pool for its host.
    H2Pool& d = wu.h2pool_for(both[0], both[0].hosts()[0]);
    EXPECT_TRUE(d.idle_and_empty());
    wu.drain_all();
  }
  loop.run_deferred_now();
}

// least_request's in-flight counts: a request that started before a reload (which it does
// not release into, see UpstreamAttempts::release_host) must not stay counted after it.
TEST(WorkerUpstreams, ReloadStartsInFlightCountsAfresh) {
  core::EventLoop loop;
  core::BufferPool buffers;
  stats::ClusterStats st;
  config::ClusterConfig a = cluster_named("a");
  std::vector<Cluster> cs;
  cs.emplace_back(a, std::vector<Host>{host("127.0.0.1:1"), host("127.0.0.1:2")}, std::vector<stats::ClusterStats*>{&st});
  {
    WorkerUpstreams wu(loop, buffers, 0, 16 * 1024);
    wu.apply(cs);
    wu.state(0).active[1] = 3;  // three requests in flight on host 1
    wu.state(0).rr_current[0] = 7;
    wu.apply(cs);  // a reload with the same hosts
    EXPECT_EQ(wu.state(0).active[1], 0u);
    EXPECT_EQ(wu.state(0).rr_current[0], 7) << "balancer positions are kept";
    wu.drain_all();
  }
  loop.run_deferred_now();
}
