// sim/check.h — any capture against an account, offline: the frames of a user's pcaps (one
// per port) go through the DPDK engine on the account's compiled tables, and every frame the
// policy decides is compared with the reference evaluator's decision on the same packet (the
// oracle of sim/generator.h, here without a scenario). What is expected of a frame is thus
// "what the account's policy says", not what a scenario meant; frames the data plane handles
// before any policy (ARP, GTP-U Echo, GTP-C and IKE punts, parse drops) are replayed and
// counted but not compared. The result has the shape of a validation (Traffic + Replayed) so
// report.h writes its report.json, summary and annotated pcapngs. Control thread; needs EAL.
#pragma once

#include <string>

#include "core/result.h"
#include "sim/generator.h"
#include "sim/validate.h"

namespace simcore::sim {

struct CheckInput {
  std::string account;      // the account file (configs/demo.yaml format), sessions included
  std::string access_pcap;  // frames arriving on the access port; empty: none
  std::string core_pcap;    // frames arriving on the core port; empty: none
  // Our addresses. 0: the access address is the outer destination of the access capture's
  // first GTP-U datagram, the core address default_ports()'s.
  uint32_t access_addr = 0;
  uint32_t core_addr = 0;
  std::string out_dir;  // access.pcapng and core.pcapng (annotated) go here; empty: none
};

struct Checked {
  Traffic traffic;    // the compared frames (flows: direction, protocol, destination port)
  Replayed replayed;  // their outcomes, and the counters of the whole replay
  size_t frames = 0;  // every frame replayed
  size_t not_policy = 0;  // of which handled before the policy (not compared)
};

// Fails kInvalidArgument when a capture cannot be read or the account does not load (naming
// the file), kUnavailable when the replay cannot run.
core::Result<Checked> check_pcaps(const CheckInput& in);

}  // namespace simcore::sim
