// The line commands of `mesh_node --commands` (docs/node-program.md).
#pragma once

#include <string>

#include <mesh/mesh.hpp>

namespace tools {

// Runs one command line against `node` and returns the one-line answer.
//   call MODULE ID CAPABILITY JSON   -> "ok <pid> <json>" | "error <code> <message>"
//   cast MODULE ID CAPABILITY JSON   -> "ok" | "error <code> <message>"
//   nodes CAPABILITY                 -> "nodes a,b,c"
//   capabilities                     -> "capabilities x,y"
//   owner SHARD CAPABILITY / shard ID
//   wait-nodes CAPABILITY N MS       -> "ok" once nodes_for(CAPABILITY) has N nodes, else "error timeout"
//   status                           -> "status {json}": view epoch, members, owned shards, ...
//   activations                      -> "activations [json]": every activation hosted here
//   reconcile                        -> "reconciled N"
//   set-capabilities a,b             -> "ok" (an empty list removes them all)
//   load start PREFIX N | load stop | load   -> background GameActor increments and their tally
//   reminder set MODULE ID CAPABILITY NAME DUE_MS PERIOD_MS|once [JSON] -> "ok" | "error ..."
//   reminder remove MODULE ID CAPABILITY NAME -> "ok" (also when there was none)
//   reminder list MODULE ID CAPABILITY        -> "reminders [json]": name, due_ms, period_ms, payload
std::string run_command(mesh::Node& node, const std::string& line);

}  // namespace tools
