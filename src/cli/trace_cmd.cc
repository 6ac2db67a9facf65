// `hop trace URL`: where a request's time goes, phase by phase (src/trace/, docs/trace.md).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "trace/json_output.h"
#include "trace/trace_runner.h"
#include "trace/waterfall.h"

namespace hop::cli {

namespace {

struct TraceArgs {
  std::string url;
  bool http1 = false;
  bool http2 = false;
  std::vector<std::string> resolves;
  std::string dns_server;
  std::string cacert;
  bool insecure = false;
  std::vector<std::string> headers;
  std::string method;
  std::string data;
  double connect_timeout_s = 10;
  double max_time_s = 60;
  int count = 1;
  bool no_reuse = false;
  bool json = false;
  std::string color = "auto";
  std::string output;
};

// Exit status 2 for bad arguments, as CLI11 does for its own parse errors.
constexpr int kUsageError = 2;

bool to_options(const TraceArgs& a, trace::TraceOptions& o, std::string& error) {
  o.url = a.url;
  if (a.http1 && a.http2) {
    error = "--http1.1 and --http2 exclude each other";
    return false;
  }
  o.version = a.http1 ? trace::HttpVersion::kHttp1
                      : (a.http2 ? trace::HttpVersion::kHttp2 : trace::HttpVersion::kAuto);
  for (const auto& r : a.resolves) {
    trace::ResolveOverride ov;
    if (!trace::parse_resolve_override(r, ov, error)) return false;
    o.resolves.push_back(ov);
  }
  o.dns_servers = a.dns_server;
  o.cacert = a.cacert;
  o.insecure = a.insecure;
  for (const auto& h : a.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      error = "-H wants 'Name: value', got '" + h + "'";
      return false;
    }
    std::string value = h.substr(colon + 1);
    size_t start = value.find_first_not_of(" \t");
    value = start == std::string::npos ? "" : value.substr(start);
    o.headers.emplace_back(h.substr(0, colon), value);
  }
  o.method = a.method;
  o.body = a.data;
  if (!(a.connect_timeout_s > 0) || !(a.max_time_s > 0) || a.connect_timeout_s > 86400 ||
      a.max_time_s > 86400) {
    error = "timeouts must be between 0 and 86400 seconds";
    return false;
  }
  o.connect_timeout = core::Millis(static_cast<long>(std::ceil(a.connect_timeout_s * 1000)));
  o.max_time = core::Millis(static_cast<long>(std::ceil(a.max_time_s * 1000)));
  o.count = a.count;
  o.reuse = !a.no_reuse;
  return true;
}

bool use_color(const std::string& mode) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  // https://no-color.org: any non-empty NO_COLOR turns colour off.
  const char* no_color = std::getenv("NO_COLOR");
  return isatty(STDOUT_FILENO) == 1 && !(no_color && *no_color);
}

void run_trace(const TraceArgs& args) {
  trace::TraceOptions options;
  std::string error;
  if (!to_options(args, options, error)) {
    std::fprintf(stderr, "hop trace: %s\n", error.c_str());
    set_exit_code(kUsageError);
    return;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out_file(nullptr, &std::fclose);
  if (!args.output.empty()) {
    out_file.reset(std::fopen(args.output.c_str(), "wb"));
    if (!out_file) {
      std::fprintf(stderr, "hop trace: cannot open %s for writing\n", args.output.c_str());
      set_exit_code(kUsageError);
      return;
    }
    std::FILE* f = out_file.get();
    options.body_sink = [f](std::string_view data) { std::fwrite(data.data(), 1, data.size(), f); };
  }
  trace::TraceRunner runner(options);
  if (!runner.init(error)) {
    std::fprintf(stderr, "hop trace: %s\n", error.c_str());
    set_exit_code(kUsageError);
    return;
  }
  trace::WaterfallStyle style;
  style.color = !args.json && use_color(args.color);

  trace::RunSummary summary;
  int status = 0;
  for (int i = 1; i <= options.count; ++i) {
    trace::RequestTrace t = runner.run(i);
    if (status == 0) status = trace::exit_status_for(t);
    summary.add(t);
    if (args.json) {
      std::printf("%s\n", trace::to_json_line(t).c_str());
    } else {
      if (i == 1) std::printf("%s", trace::render_waterfall(t, style).c_str());
      if (i == 1 && options.count > 1) std::printf("\n%s", trace::render_table_header().c_str());
      if (options.count > 1) std::printf("%s", trace::render_table_row(t, style).c_str());
    }
    std::fflush(stdout);
  }
  if (!args.json && options.count > 1) std::printf("\n%s", summary.render().c_str());
  set_exit_code(status);
}

}  // namespace

void register_trace(CLI::App& app) {
  auto args = std::make_shared<TraceArgs>();
  auto* cmd = app.add_subcommand("trace", "Trace one HTTP request phase by phase (DNS, connect, TLS, "
                                          "TTFB, transfer) with the server's own phases");
  cmd->add_option("url", args->url, "http:// or https:// URL")->required();
  cmd->add_flag("--http1.1", args->http1, "Use HTTP/1.1 only");
  cmd->add_flag("--http2", args->http2, "Use HTTP/2 (ALPN h2 on TLS, prior knowledge on http://)");
  cmd->add_option("--resolve", args->resolves, "HOST:PORT:ADDR, use ADDR for HOST:PORT")
      ->allow_extra_args(false);
  cmd->add_option("--dns-server", args->dns_server,
                  "DNS servers to ask, IP[:PORT][,...] (default: /etc/resolv.conf)");
  cmd->add_option("--cacert", args->cacert, "PEM file of CA certificates to trust");
  cmd->add_flag("-k,--insecure", args->insecure, "Do not verify the server certificate");
  cmd->add_option("-H,--header", args->headers, "Extra header 'Name: value' ('Name:' removes a default)")
      ->allow_extra_args(false);
  cmd->add_option("-X,--request", args->method, "Request method (default GET, POST with -d)");
  cmd->add_option("-d,--data", args->data, "Request body");
  cmd->add_option("--connect-timeout", args->connect_timeout_s,
                  "Seconds allowed for DNS, connect and TLS (default 10)");
  cmd->add_option("-m,--max-time", args->max_time_s, "Seconds allowed per request (default 60)");
  cmd->add_option("-n", args->count, "Number of sequential requests (default 1)");
  cmd->add_flag("--no-reuse", args->no_reuse, "Open a new connection for every request");
  cmd->add_option("-o,--output", args->output,
                  "Write response bodies to FILE (with -n, one after another); default: discard");
  cmd->add_flag("--json", args->json, "One JSON object per request (JSON Lines)");
  cmd->add_option("--color", args->color, "auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  cmd->callback([args] { run_trace(*args); });
}

}  // namespace hop::cli
