#include "stats/registry.h"

namespace hop::stats {

namespace {
template <typename T>
std::vector<T*> blocks_for(std::map<std::string, std::vector<std::unique_ptr<T>>>& m, const std::string& name,
                           unsigned workers) {
  auto& v = m[name];
  while (v.size() < workers) v.push_back(std::make_unique<T>());
  std::vector<T*> out;
  for (auto& p : v) out.push_back(p.get());
  return out;
}
}  // namespace

std::vector<ClusterStats*> Registry::cluster(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return blocks_for(clusters_, name, workers_);
}

std::vector<ListenerStats*> Registry::listener(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return blocks_for(listeners_, name, workers_);
}

}  // namespace hop::stats
