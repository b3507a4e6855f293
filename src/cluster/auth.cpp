#include "cluster/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace mesh::detail::auth {

Bytes random_nonce() {
  Bytes nonce(32);
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
    throw std::runtime_error("mesh: OpenSSL RAND_bytes failed");
  }
  return nonce;
}

Bytes proof(std::string_view cookie, const Bytes& verifier_nonce, const Bytes& prover_nonce,
            std::string_view prover, std::string_view verifier) {
  std::string message = "mesh-auth-v1";
  message.append(verifier_nonce.begin(), verifier_nonce.end());
  message.append(prover_nonce.begin(), prover_nonce.end());
  // Length-prefix the names so that ("ab","c") and ("a","bc") differ.
  message += std::to_string(prover.size()) + ":" + std::string(prover);
  message += std::to_string(verifier.size()) + ":" + std::string(verifier);
  Bytes mac(EVP_MAX_MD_SIZE);
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), cookie.data(), static_cast<int>(cookie.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(),
            &length)) {
    throw std::runtime_error("mesh: OpenSSL HMAC failed");
  }
  mac.resize(length);
  return mac;
}

bool equal(const Bytes& a, const Bytes& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace mesh::detail::auth
