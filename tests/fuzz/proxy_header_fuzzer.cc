// libFuzzer target for the PROXY protocol header parser: any bytes give a verdict within the
// input, an accepted header is accepted again on its own, and no prefix of it is accepted.
#include <cstdint>
#include <cstring>

#include "core/proxy_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hop::core;
  const char* p = reinterpret_cast<const char*>(data);
  ProxyHeader h;
  ProxyHeaderResult r = parse_proxy_header(p, size, h);
  if (r != ProxyHeaderResult::kOk) return 0;
  if (h.length == 0 || h.length > size) __builtin_trap();
  if (h.has_source && h.source.family() != 2 /*AF_INET*/ && h.source.family() != 10 /*AF_INET6*/) __builtin_trap();
  ProxyHeader again;
  if (parse_proxy_header(p, h.length, again) != ProxyHeaderResult::kOk || again.length != h.length) __builtin_trap();
  if (h.length > 1 && parse_proxy_header(p, h.length - 1, again) == ProxyHeaderResult::kOk) __builtin_trap();
  return 0;
}
