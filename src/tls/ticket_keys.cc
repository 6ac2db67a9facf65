#include "tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace hop::tls {

namespace {

TicketKey random_key() {
  TicketKey k;
  // RAND_bytes only fails when the DRBG cannot be seeded; a predictable key would let anyone
  // forge or read tickets, so that is fatal rather than something to continue past.
  if (RAND_bytes(k.name.data(), k.name.size()) != 1 || RAND_bytes(k.aes_key.data(), k.aes_key.size()) != 1 ||
      RAND_bytes(k.hmac_key.data(), k.hmac_key.size()) != 1)
    abort();
  return k;
}

int ring_index() {
  static const int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

bool set_hmac_key(EVP_MAC_CTX* hctx, TicketKey& k) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac_key.data(), k.hmac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

// RFC 5077 §4 ticket protection: AES-256-CBC, HMAC-SHA256, a 16-byte key name in front.
// Returns 1 = use the key, 2 = decrypted with an older key: accept and issue a new ticket
// under the current one, 0 = unknown key: full handshake, -1 = error.
int ticket_cb(SSL* ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX* cctx,
              EVP_MAC_CTX* hctx, int enc) {
  const auto* ring = static_cast<const TicketKeyRing*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ring_index()));
  if (!ring) return -1;
  TicketKey k;
  if (enc) {
    k = ring->current();
    if (RAND_bytes(iv, 16) != 1) return -1;
    memcpy(key_name, k.name.data(), k.name.size());
    if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes_key.data(), iv) != 1) return -1;
    return set_hmac_key(hctx, k) ? 1 : -1;
  }
  bool is_current = false;
  if (!ring->find(key_name, k, is_current)) return 0;
  if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes_key.data(), iv) != 1) return -1;
  if (!set_hmac_key(hctx, k)) return -1;
  return is_current ? 1 : 2;
}

}  // namespace

TicketKeyRing::TicketKeyRing(size_t keep) : keep_(keep < 1 ? 1 : keep) { keys_.push_front(random_key()); }

TicketKeyRing::TicketKeyRing(std::vector<TicketKey> fixed)
    : keys_(fixed.begin(), fixed.end()), keep_(fixed.size()), fixed_(true) {
  if (keys_.empty()) {  // never configured so: an empty file list means random keys
    keys_.push_front(random_key());
    keep_ = 1;
  }
}

bool read_ticket_key_file(const std::string& path, TicketKey& out, std::string& err) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    err = "cannot read ticket key file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::vector<char> buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (buf.size() != 80) {
    err = "ticket key file " + path + " has " + std::to_string(buf.size()) +
          " bytes; it must hold exactly 80 (openssl rand 80 > FILE)";
    return false;
  }
  memcpy(out.name.data(), buf.data(), 16);
  memcpy(out.hmac_key.data(), buf.data() + 16, 32);
  memcpy(out.aes_key.data(), buf.data() + 48, 32);
  return true;
}

void TicketKeyRing::rotate() {
  if (fixed_) return;  // the operator rotates key files
  TicketKey k = random_key();
  std::lock_guard<std::mutex> g(mu_);
  keys_.push_front(k);
  while (keys_.size() > keep_) keys_.pop_back();
}

TicketKey TicketKeyRing::current() const {
  std::lock_guard<std::mutex> g(mu_);
  return keys_.front();
}

bool TicketKeyRing::find(const uint8_t* name, TicketKey& out, bool& is_current) const {
  std::lock_guard<std::mutex> g(mu_);
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (memcmp(keys_[i].name.data(), name, keys_[i].name.size()) == 0) {
      out = keys_[i];
      is_current = i == 0;
      return true;
    }
  }
  return false;
}

size_t TicketKeyRing::size() const {
  std::lock_guard<std::mutex> g(mu_);
  return keys_.size();
}

void TicketKeyRing::install(SSL_CTX* ctx) const {
  SSL_CTX_set_ex_data(ctx, ring_index(), const_cast<TicketKeyRing*>(this));
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}

}  // namespace hop::tls
