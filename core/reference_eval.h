// core/reference_eval.h — the reference evaluator: what the policy says should happen to one
// packet, computed from the model itself by the plainest possible walk (linear scans, no
// indexes). Slow and obviously correct: the oracle for the compiled tables and the fast path,
// and the engine of the API's what-if call. Control thread (reads the model).
#pragma once

#include "core/account.h"
#include "core/flow_memory.h"
#include "core/verdict.h"

namespace simcore::core {

// Returns the decision for `p`. `flows` is the stateful-firewall memory: allowed uplink packets
// of stateful profiles open flows in it, and downlink replies to those flows pass.
Decision evaluate_reference(const Model& model, const PacketDesc& p, FlowMemory& flows);

}  // namespace simcore::core
