// Built with every test: the node layer sees every layer below it, through the same include
// directories the layering checks rely on (tests/CMakeLists.txt).
#include "cluster/cluster.hpp"
#include "core/call_state.hpp"
#include "http/http_server.hpp"
#include "node/rebalancer.hpp"
#include "placement/routing_table.hpp"
#include "runtime/actor_host.hpp"
