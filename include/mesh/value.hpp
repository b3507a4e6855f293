// Value: the payload, reply and init-argument type of every actor message.
#pragma once

#include <nlohmann/json.hpp>

namespace mesh {

// A JSON-like dynamic value. Locally it is handed over by move, never copied on the call path;
// between nodes it travels as MessagePack. Not thread-safe: one owner at a time.
using Value = nlohmann::json;

}  // namespace mesh
