// The one include for mesh users: #include <mesh/mesh.hpp>
#pragma once

#include "mesh/actor.hpp"
#include "mesh/discovery.hpp"
#include "mesh/error.hpp"
#include "mesh/no_inline_handlers.hpp"
#include "mesh/node.hpp"
#include "mesh/node_options.hpp"
#include "mesh/pid.hpp"
#include "mesh/placement.hpp"
#include "mesh/reminder.hpp"
#include "mesh/request.hpp"
#include "mesh/state_store.hpp"
#include "mesh/status.hpp"
#include "mesh/value.hpp"
