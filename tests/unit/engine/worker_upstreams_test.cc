#include <gtest/gtest.h>

#include "upstream/worker_upstreams.h"

using namespace hop;
using namespace hop::upstream;

namespace {
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
  config::ClusterConfig a, b;
  a.name = "a";
  a.protocol = config::UpstreamProtocol::kH2c;
  b.name = "b";
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
