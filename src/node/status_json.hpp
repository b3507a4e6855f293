// The status JSON of a node (docs/operations.md, "Status and shard map"): what GET /v1/status
// answers and what a node answers a peer's "$status" query with, built in one place so that
// GET /v1/cluster shows every node exactly as its own /v1/status would.
#pragma once

#include "mesh/value.hpp"

namespace mesh::detail {

class NodeCore;

// {"name", "listen", "http", "view_epoch", "members", "capabilities" (this node's own),
//  "owned_shards" (count per own capability), "activations", "handoffs_in_progress",
//  "reconciler_runs", "reconciler_stopped", "handshakes_refused", "discovery_dropped", "timers",
//  "reminders_held", "reminders_due", "reminders_fired"}. Reads the state store when the node
// has one (the reminder figures), so it may take a moment: not for an IO thread of the cluster.
Value status_json(const NodeCore& core);

}  // namespace mesh::detail
