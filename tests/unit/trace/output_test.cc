#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "trace/http_exchange.h"
#include "trace/json_output.h"
#include "trace/waterfall.h"

namespace hop::trace {
namespace {

RequestTrace sample() {
  RequestTrace t;
  t.index = 1;
  t.url = "https://localhost:8443/delay/200";
  t.method = "GET";
  t.protocol = "HTTP/2";
  t.traceparent = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01";
  t.remote_addr = "127.0.0.1:8443";
  t.dns_ms = 0.5;
  t.connect_ms = 0.25;
  t.tls_ms = 3.0;
  t.send_ms = 0.05;
  t.ttfb_ms = 201.25;
  t.transfer_ms = 0.5;
  t.total_ms = 205.55;
  t.dns.source = "dns";
  t.dns.resolver = "127.0.0.1:53";
  t.dns.addresses = {"127.0.0.1"};
  t.dns.ttl = 300;
  t.tls_used = true;
  t.tls.version = "TLSv1.3";
  t.tls.cipher = "TLS_AES_256_GCM_SHA384";
  t.tls.alpn = "h2";
  t.tls.subject = "CN = localhost";
  t.tls.issuer = "CN = hop-test-ca";
  t.tls.not_after = "2049-12-31 00:00:00 UTC";
  t.status = 200;
  t.reason = "";
  t.bytes = 1000;
  parse_server_timing("hop-pre;dur=0.05, upstream-ttfb;dur=200.4;desc=\"127.0.0.1:9101\", retries;dur=0;desc=\"0\", hop-total;dur=201", t.server_timing);
  return t;
}

TEST(JsonOutput, HasTheStableFields) {
  auto j = nlohmann::json::parse(to_json_line(sample()));
  EXPECT_EQ(j["status"], 200);
  EXPECT_DOUBLE_EQ(j["dns_ms"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["connect_ms"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["tls_ms"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(j["ttfb_ms"].get<double>(), 201.25);
  EXPECT_DOUBLE_EQ(j["transfer_ms"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["total_ms"].get<double>(), 205.55);
  EXPECT_EQ(j["reused"], false);
  EXPECT_EQ(j["remote_addr"], "127.0.0.1:8443");
  EXPECT_EQ(j["tls_version"], "TLSv1.3");
  EXPECT_EQ(j["alpn"], "h2");
  EXPECT_EQ(j["bytes"], 1000);
  ASSERT_EQ(j["server_timing"].size(), 4u);
  EXPECT_EQ(j["server_timing"][1]["name"], "upstream-ttfb");
  EXPECT_DOUBLE_EQ(j["server_timing"][1]["dur"].get<double>(), 200.4);
  EXPECT_EQ(j["server_timing"][1]["desc"], "127.0.0.1:9101");
  EXPECT_EQ(j["ok"], true);
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_EQ(j["dns"]["ttl"], 300);
}

TEST(JsonOutput, IsOneLine) { EXPECT_EQ(to_json_line(sample()).find('\n'), std::string::npos); }

TEST(JsonOutput, FailureNamesThePhase) {
  RequestTrace t = sample();
  t.failed_phase = Phase::kTls;
  t.error = "certificate verify failed: certificate has expired";
  auto j = nlohmann::json::parse(to_json_line(t));
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["failed_phase"], "tls");
  EXPECT_EQ(j["error"], t.error);
}

TEST(JsonOutput, InvalidUtf8FromTheServerDoesNotThrow) {
  RequestTrace t = sample();
  t.reason = "\xff\xfe";
  t.server_timing[0].desc = "\xc3";
  EXPECT_NO_THROW(nlohmann::json::parse(to_json_line(t)));
}

TEST(Waterfall, PlainHasEveryPhaseAndNoEscapes) {
  std::string out = render_waterfall(sample(), WaterfallStyle{});
  EXPECT_EQ(out.find('\033'), std::string::npos);
  for (const char* s : {"dns", "connect", "tls", "send", "ttfb", "transfer", "total",
                        "TLSv1.3", "alpn h2", "ttl 300s", "CN = localhost", "traceparent 00-"})
    EXPECT_NE(out.find(s), std::string::npos) << s << "\n" << out;
}

TEST(Waterfall, ServerRowsAreNestedBetweenTtfbAndTransfer) {
  std::string out = render_waterfall(sample(), WaterfallStyle{});
  auto ttfb = out.find("  ttfb ");
  auto upstream = out.find("    upstream-ttfb");
  auto transfer = out.find("  transfer ");
  ASSERT_NE(upstream, std::string::npos) << out;
  EXPECT_LT(ttfb, upstream);
  EXPECT_LT(upstream, transfer);
}

TEST(Waterfall, RowsAreAligned) {
  std::string out = render_waterfall(sample(), WaterfallStyle{});
  // Every timed row has its bar opening at the same column.
  size_t column = std::string::npos;
  size_t pos = 0;
  while ((pos = out.find('\n', pos)) != std::string::npos) {
    ++pos;
    auto end = out.find('\n', pos);
    std::string line = out.substr(pos, end - pos);
    auto ms = line.find(" ms |");
    if (ms == std::string::npos) continue;
    if (column == std::string::npos) column = ms;
    EXPECT_EQ(ms, column) << line;
  }
  EXPECT_NE(column, std::string::npos);
}

TEST(Waterfall, ColourOnlyWhenAsked) {
  WaterfallStyle s;
  s.color = true;
  EXPECT_NE(render_waterfall(sample(), s).find("\033["), std::string::npos);
}

TEST(Waterfall, FailureStopsAtTheFailedPhase) {
  RequestTrace t = sample();
  t.failed_phase = Phase::kConnect;
  t.error = "127.0.0.1:1: Connection refused";
  t.server_timing.clear();
  std::string out = render_waterfall(t, WaterfallStyle{});
  EXPECT_NE(out.find("FAILED: 127.0.0.1:1: Connection refused"), std::string::npos);
  EXPECT_NE(out.find("failed in connect"), std::string::npos);
  EXPECT_EQ(out.find("  ttfb "), std::string::npos);
}

TEST(Waterfall, SummaryShowsSetupPaidOnce) {
  RequestTrace a = sample();
  RequestTrace b = sample();
  b.index = 2;
  b.reused = true;
  b.dns_ms = b.connect_ms = b.tls_ms = 0;
  RunSummary summary;
  summary.add(a);
  summary.add(b);
  std::string s = summary.render();
  EXPECT_NE(s.find("2 requests, 2 ok, 1 connection opened"), std::string::npos) << s;
  EXPECT_NE(s.find("3.75 ms paid 1 time, amortized 1.88 ms/request"), std::string::npos) << s;
  EXPECT_NE(s.find("ttfb min/avg/max: 201.25/201.25/201.25 ms"), std::string::npos) << s;
  EXPECT_NE(render_table_row(b, WaterfallStyle{}).find("yes"), std::string::npos);
  EXPECT_NE(render_table_header().find("reused"), std::string::npos);
}

TEST(ExitStatus, OnePerPhase) {
  RequestTrace t;
  EXPECT_EQ(exit_status_for(t), 0);
  t.failed_phase = Phase::kDns;
  EXPECT_EQ(exit_status_for(t), 3);
  t.failed_phase = Phase::kConnect;
  EXPECT_EQ(exit_status_for(t), 4);
  t.failed_phase = Phase::kTls;
  EXPECT_EQ(exit_status_for(t), 5);
  t.failed_phase = Phase::kTtfb;
  EXPECT_EQ(exit_status_for(t), 6);
  t.failed_phase = Phase::kHttp;
  EXPECT_EQ(exit_status_for(t), 7);
}

TEST(H1Request, DefaultsUserHeadersAndBody) {
  HttpRequest r;
  r.method = "POST";
  std::string error;
  r.url = *parse_url("http://h:8080/p?q", error);
  r.traceparent = "00-a-b-01";
  r.headers = {{"X-One", "1"}, {"User-Agent", "mine"}, {"Accept", ""}};
  r.body = "abc";
  std::string wire = build_h1_request(r);
  EXPECT_EQ(wire.rfind("POST /p?q HTTP/1.1\r\nHost: h:8080\r\n", 0), 0u) << wire;
  EXPECT_NE(wire.find("traceparent: 00-a-b-01\r\n"), std::string::npos);
  EXPECT_NE(wire.find("User-Agent: mine\r\n"), std::string::npos);
  EXPECT_EQ(wire.find("hop-trace"), std::string::npos);  // replaced, not doubled
  EXPECT_EQ(wire.find("Accept:"), std::string::npos);    // removed by "Accept:"
  EXPECT_NE(wire.find("Content-Length: 3\r\n"), std::string::npos);
  EXPECT_EQ(wire.substr(wire.size() - 7), "\r\n\r\nabc");
}

TEST(H1Request, RefusesHeaderInjection) {
  HttpRequest r;
  std::string error;
  r.headers = {{"X", "a\r\nEvil: 1"}};
  EXPECT_FALSE(validate_request_headers(r, error));
  r.headers = {{"Bad Name", "v"}};
  EXPECT_FALSE(validate_request_headers(r, error));
  r.headers = {{"Good", "v"}};
  r.method = "GET /x";
  EXPECT_FALSE(validate_request_headers(r, error));
}

}  // namespace
}  // namespace hop::trace
