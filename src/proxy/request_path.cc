#include "proxy/request_path.h"

#include "http/path_normalize.h"

namespace hop::proxy {

bool normalize_request_path(http::RequestHead& req, std::string& target) {
  static thread_local std::string scratch;  // workers are threads; used only inside the call
  auto r = http::normalize_path(req.path, target, scratch);
  if (r == http::PathNormalization::kInvalid) return false;
  if (r == http::PathNormalization::kUnchanged) return true;
  size_t path_len = target.size();
  target.append(req.origin_target.substr(req.path.size()));  // the query, as sent
  req.origin_target = target;
  req.path = std::string_view(target).substr(0, path_len);
  return true;
}

}  // namespace hop::proxy
