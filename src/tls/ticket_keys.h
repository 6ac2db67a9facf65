// Session-ticket keys shared by every worker of a listener, so a ticket issued by one worker
// resumes on another, and kept across reloads. The control thread rotates them: the newest
// key encrypts, the previous ones still decrypt until they age out (tickets stay valid for
// about `keep` rotation periods). Workers read the ring only during handshakes.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;

namespace hop::tls {

struct TicketKey {
  std::array<uint8_t, 16> name{};
  std::array<uint8_t, 32> aes_key{};
  std::array<uint8_t, 32> hmac_key{};
};

class TicketKeyRing {
 public:
  explicit TicketKeyRing(size_t keep = 3);  // starts with one fresh random key
  // A ring of the given keys (front encrypts), never rotated: keys read from files.
  explicit TicketKeyRing(std::vector<TicketKey> fixed);
  void rotate();                            // new encrypting key; drops the oldest beyond `keep`
  bool fixed() const { return fixed_; }
  TicketKey current() const;
  // The key named `name`, if still in the ring; `is_current` tells whether tickets under it
  // should be renewed with the current key.
  bool find(const uint8_t* name, TicketKey& out, bool& is_current) const;
  size_t size() const;
  // Installs the ring as `ctx`'s ticket key callback (the ring must outlive the context:
  // ServerContext holds a shared_ptr).
  void install(SSL_CTX* ctx) const;

 private:
  mutable std::mutex mu_;  // held for a copy of a few dozen bytes, during handshakes only
  std::deque<TicketKey> keys_;  // front = current
  size_t keep_;
  bool fixed_ = false;
};

// Reads an 80-byte ticket key file in nginx's layout (16-byte name, 32-byte HMAC key,
// 32-byte AES key), so one key file can serve hop and nginx alike. False with `err` when
// the file cannot be read or has another size.
bool read_ticket_key_file(const std::string& path, TicketKey& out, std::string& err);

}  // namespace hop::tls
