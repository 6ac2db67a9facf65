#include "upstream/shared_state.h"

#include <chrono>

namespace hop::upstream {

std::shared_ptr<ClusterShared> SharedStateRegistry::cluster(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& p = clusters_[name];
  if (!p) p = std::make_shared<ClusterShared>();
  return p;
}

std::shared_ptr<HostOutlier> SharedStateRegistry::host(const std::string& cluster, const std::string& host) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& p = hosts_[cluster + "/" + host];
  if (!p) p = std::make_shared<HostOutlier>();
  return p;
}

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace hop::upstream
