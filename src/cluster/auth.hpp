// Cookie authentication: HMAC-SHA256 challenge-response; the cookie never crosses the wire.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::detail::auth {

using Bytes = std::vector<std::uint8_t>;

// 32 bytes from OpenSSL's CSPRNG.
Bytes random_nonce();

// The proof that `prover` knows the cookie, answering the challenge `verifier_nonce`:
// HMAC-SHA256(cookie, "mesh-auth-v1" | verifier_nonce | prover_nonce | prover | verifier).
// Binding both nonces and both names stops replays and reflection.
Bytes proof(std::string_view cookie, const Bytes& verifier_nonce, const Bytes& prover_nonce,
            std::string_view prover, std::string_view verifier);

// Constant-time comparison.
bool equal(const Bytes& a, const Bytes& b);

}  // namespace mesh::detail::auth
