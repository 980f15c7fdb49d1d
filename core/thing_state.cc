#include "core/thing_state.h"

namespace simcore::core {
namespace {

// kAllowed[from][to]; rows and columns in ThingState order. The single source of the lifecycle.
constexpr bool kAllowed[4][4] = {
    //              PROVISIONED ACTIVE SUSPENDED RETIRED
    /* PROVISIONED */ {false, true, false, true},
    /* ACTIVE      */ {false, false, true, true},
    /* SUSPENDED   */ {false, true, false, true},
    /* RETIRED     */ {false, false, false, false},
};

}  // namespace

bool transition_allowed(ThingState from, ThingState to) noexcept {
  return kAllowed[static_cast<int>(from)][static_cast<int>(to)];
}

Status check_transition(ThingState from, ThingState to) {
  if (transition_allowed(from, to)) return Status::Ok();
  return Error::on_field(Code::kFailedPrecondition, "state",
                         std::string("cannot go from ") + state_name(from) + " to " + state_name(to));
}

}  // namespace simcore::core
