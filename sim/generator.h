// sim/generator.h — scenario → frames and the expected outcome of each. Loads the account
// (control/account_file.h), simulates the scenario's attaches with core::Account::attach
// (TEIDs allocated here), turns every flow into core::PacketDescs on a timeline, evaluates
// each with the reference evaluator in frame order (one FlowMemory per phase, so stateful
// replies are right) and encodes the frames (sim/encode.h).
//
// Phases: phase 0 is everything up to the scenario's detaches, phase 1 (only when a behaviour
// detaches) the `afterDetach` traffic. A phase is one table snapshot; the offline replay runs
// each phase on a fresh engine, so flow memory starts empty in each.
//
// Deterministic: the same scenario (and seed) gives byte-identical frames. The session
// operations are kept (SessionOp) so that another account — `validate --against` — or the
// online driver can be brought to the same sessions. Control thread; no global state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/account.h"
#include "core/compiler.h"
#include "core/result.h"
#include "dataplane/pipeline.h"
#include "sim/outcome.h"
#include "sim/scenario.h"

namespace simcore::sim {

// One attach or detach, by ICCID so it can be replayed on another account.
struct SessionOp {
  int phase = 0;
  bool attach = true;  // false: detach
  std::string iccid;
  std::string thing;  // name, for messages
  int gtp = 2;        // attach: 2 GTPv2-C Create Session, 1 GTPv1-C Create PDP Context
  core::AttachRequest request;
  std::string path;  // the behaviour's YAML path
};

struct FlowInfo {
  std::string name;
  std::string path;
  core::Direction dir = core::Direction::kUplink;
  Malformation malformed = Malformation::kNone;
};

struct SimFrame {
  uint64_t ts_ns = 0;
  dp::Port port = dp::Port::kAccess;
  std::vector<uint8_t> bytes;
  uint32_t flow = 0;  // index into Traffic::flows
  uint8_t phase = 0;
  bool reply = false;  // the answer to the packet before it in its stream
  core::PacketDesc desc;
  Expected expect;
};

struct Traffic {
  std::vector<FlowInfo> flows;
  std::vector<SimFrame> frames;  // in replay order: phase, then time
  std::vector<SessionOp> ops;
  int phases = 1;
  uint64_t things_selected = 0;  // distinct Things some behaviour selected
  // Things that could not take part (attach refused, no address for a downlink), one line each.
  std::vector<std::string> notes;
};

// Our port addresses for generated frames and the offline replay: access 192.0.0.1, core
// 192.0.0.2 (IETF protocol assignments, RFC 6890: unused by scenarios), static next-hop MACs.
dp::PortConfig default_ports();

// Loads the account the scenario names (file, inline, or file plus `add:`). Errors are the
// account loader's, prefixed "account: ".
core::Result<core::Account> load_scenario_account(const Scenario& s);

// Applies the operations of `phase` to `account`. An attach the account refuses (the Thing is
// missing, not ACTIVE, ...) is skipped and described in `notes` (when non-null).
void apply_session_ops(core::Account& account, const std::vector<SessionOp>& ops, int phase,
                       std::vector<std::string>* notes);

// Progress callback: (done, total) of the evaluation and encoding.
using Progress = std::function<void(uint64_t done, uint64_t total)>;

// Generates the scenario's traffic. Fails (naming the YAML path) when the account does not
// load, a selector names nothing, or a flow's destination Thing has no address.
core::Result<Traffic> generate(const Scenario& s, const dp::PortConfig& ports,
                               const Progress& progress = {});

}  // namespace simcore::sim
