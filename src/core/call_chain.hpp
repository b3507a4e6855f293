// CallChain: the activations waiting, each on the next, along one chain of blocking calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace mesh::detail {

// Immutable linked list, newest first, shared by the messages that carry it. Only blocking calls
// made from inside a handler carry a chain; casts and async calls start none, since their sender
// does not wait.
struct CallChain {
  std::string node;
  std::uint64_t serial;
  std::shared_ptr<const CallChain> parent;
  std::uint32_t depth;  // 1 for a chain of one

  // Whether activation (node, serial) is waiting somewhere along this chain.
  bool contains(std::string_view node_name, std::uint64_t activation) const {
    for (const CallChain* link = this; link; link = link->parent.get()) {
      if (link->serial == activation && link->node == node_name) return true;
    }
    return false;
  }
};

using ChainPtr = std::shared_ptr<const CallChain>;

inline std::uint32_t chain_depth(const ChainPtr& chain) { return chain ? chain->depth : 0; }

}  // namespace mesh::detail
