// core/thing_state.h — the Thing lifecycle of API.md as one table.
// PROVISIONED → ACTIVE | RETIRED; ACTIVE ↔ SUSPENDED; ACTIVE | SUSPENDED → RETIRED (terminal).
// Nothing returns to PROVISIONED. Pure functions; any thread.
#pragma once

#include "core/model.h"

namespace simcore::core {

// Returns true when `from` may become `to`. A transition to the same state is not a transition.
bool transition_allowed(ThingState from, ThingState to) noexcept;

// Returns Ok, or kFailedPrecondition naming field "state" with both states in the message.
Status check_transition(ThingState from, ThingState to);

// Returns true when a Thing in this state may attach and pass traffic (only ACTIVE).
constexpr bool may_pass_traffic(ThingState s) noexcept { return s == ThingState::kActive; }

// Returns true when entering `to` must tear down an open session (SUSPENDED, RETIRED).
constexpr bool ends_session(ThingState to) noexcept {
  return to == ThingState::kSuspended || to == ThingState::kRetired;
}

}  // namespace simcore::core
