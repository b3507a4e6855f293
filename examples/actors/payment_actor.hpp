// PaymentActor: an account balance (the Elixir guides name a :payment capability but no actor).
#pragma once

#include <stdexcept>
#include <string>

#include <mesh/mesh.hpp>

namespace examples {

// "deposit"/"withdraw" {"amount"} return the new balance; "balance" returns it. A withdrawal
// beyond the balance answers {"error": "insufficient_funds"} and changes nothing; a negative
// amount is a bug in the caller and crashes the actor (actor_crashed).
class PaymentActor {
 public:
  explicit PaymentActor(std::string account) : account_(std::move(account)) {}

  mesh::Value handle_call(const mesh::Value& payload) {
    const std::string action = payload.value("action", "");
    const long amount = payload.value("amount", 0L);
    if (amount < 0) throw std::invalid_argument("negative amount");
    if (action == "deposit") return balance_ += amount;
    if (action == "withdraw") {
      if (amount > balance_) return {{"error", "insufficient_funds"}, {"balance", balance_}};
      return balance_ -= amount;
    }
    if (action == "balance") return balance_;
    return {{"error", "unknown_action"}};
  }

 private:
  std::string account_;
  long balance_ = 0;
};

}  // namespace examples
