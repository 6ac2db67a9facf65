#include "backend/h2_backend.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/response_plan.h"
#include "core/event_loop.h"

namespace hop::backend {

namespace {

class BackendStream final : public http::StreamHandler {
 public:
  BackendStream(BackendContext& ctx, std::string_view peer_ip, http::StreamSink& sink)
      : ctx_(ctx), peer_ip_(peer_ip), sink_(sink), timer_(ctx.loop, [this] { respond(); }) {}

  void set_method(std::string_view v) override { method_.assign(v); }
  void set_path(std::string_view v) override { path_.assign(v); }
  // Echoed as Host, as an HTTP/1.1 request would show it.
  void set_authority(std::string_view v) override { headers_.emplace_back("host", std::string(v)); }
  void add_header(std::string_view name, std::string_view value) override {
    headers_.emplace_back(std::string(name), std::string(value));
  }
  void set_content_length(uint64_t) override {}
  void set_head_bytes(size_t) override {}
  void start(bool end_stream) override {
    plan_ = plan_response(ctx_.name, method_, path_, peer_ip_, headers_, ctx_.fail_status);
    if (end_stream) end_body();
  }
  void reject(int status, std::string_view body) override {
    plan_ = ResponsePlan{};
    plan_.kind = ResponsePlan::Kind::kHealth;  // a plain-text body
    plan_.status = status;
    reply(status, "text/plain", std::string(body), {});
  }
  void push_body(const uint8_t*, size_t len) override {
    body_bytes_ += len;
    sink_.on_request_body_consumed(len);
  }
  void end_body() override {
    if (plan_.delay_ms) timer_.arm(core::Millis(plan_.delay_ms));
    else respond();
  }
  void cancel() override { timer_.cancel(); }
  size_t read_body(uint8_t* buf, size_t len, bool& eof) override {
    size_t n = 0;
    if (sent_ < body_.size()) {
      n = std::min(len, body_.size() - sent_);
      std::memcpy(buf, body_.data() + sent_, n);
      sent_ += n;
    } else if (bytes_left_) {
      n = static_cast<size_t>(std::min<uint64_t>({len, bytes_left_, kPatternBlockSize}));
      std::memcpy(buf, pattern_block(), n);
      bytes_left_ -= n;
    }
    eof = sent_ == body_.size() && bytes_left_ == 0;
    return n;
  }
  const http::Trailers& trailers() const override { return trailers_; }

 private:
  void respond() {
    std::string body = plan_.finish_body(body_bytes_);
    if (plan_.trailers) trailers_ = {{"x-backend-trailer", "done"}, {"x-body-bytes", std::to_string(body_bytes_)}};
    bytes_left_ = plan_.kind == ResponsePlan::Kind::kBytes ? plan_.bytes : 0;
    uint64_t length = plan_.kind == ResponsePlan::Kind::kBytes ? plan_.bytes : body.size();
    reply(plan_.status, plan_.content_type(), std::move(body), std::to_string(length));
  }
  void reply(int status, std::string_view content_type, std::string body, std::string length) {
    bool no_body = no_body_status(status) || method_ == "HEAD";
    if (no_body) {
      body.clear();
      bytes_left_ = 0;
    }
    body_ = std::move(body);
    http::HeaderPairs h{{"x-backend", ctx_.name}, {"content-type", content_type}};
    if (!length.empty() && !no_body_status(status)) h.push_back({"content-length", length});
    bool end = body_.empty() && bytes_left_ == 0 && trailers_.empty();
    sink_.on_response_head(status, h, end);
    if (!end) sink_.on_response_data();
  }

  BackendContext& ctx_;
  std::string peer_ip_;
  http::StreamSink& sink_;
  core::Timer timer_;  // /delay/MS
  std::string method_, path_;
  std::vector<std::pair<std::string, std::string>> headers_;
  ResponsePlan plan_;
  uint64_t body_bytes_ = 0;
  std::string body_;
  size_t sent_ = 0;
  uint64_t bytes_left_ = 0;
  http::Trailers trailers_;
};

}  // namespace

H2Backend::H2Backend(BackendContext& ctx, int fd, std::string peer_ip, std::string_view preread)
    : ctx_(ctx), peer_ip_(std::move(peer_ip)) {
  ++ctx_.open_connections;
  ctx_.h2_connections.insert(this);
  h2::ServerSettings settings;
  settings.h2.max_concurrent_streams = 1000;
  transport::ClientSocket sock(fd);
  sock.mark_registered();  // BackendConnection put it on the loop
  conn_ = std::make_unique<h2::ServerConnection>(ctx_.loop, std::move(sock), peer_ip_, settings, *this,
                                                 preread);
  if (ctx_.draining) conn_->drain();
}

std::unique_ptr<http::StreamHandler> H2Backend::open_stream(http::StreamSink& sink) {
  return std::make_unique<BackendStream>(ctx_, peer_ip_, sink);
}

void H2Backend::connection_closed() {
  --ctx_.open_connections;
  ctx_.h2_connections.erase(this);
  ctx_.loop.defer([self = this] { delete self; });
}

}  // namespace hop::backend
