// sim/online.h — the online replay: a scenario's traffic through a running simcored, over the
// wire (sim/link.h), with real attach. The driver plays every peer around the gateway: the
// SGW/SGSN (GTP-C and GTP-U on the access side) and the hosts of the core side, and answers
// the ARP simcored asks of them.
//
// Per phase (sim/generator.h): first the sessions — the account file's simulated sessions
// (phase 0 only) and the phase's attaches become Create Session / Create PDP Context Requests
// (sim/gtpc_peer.h), a window of them in flight, retransmitted after 1 s, three times; detaches
// become Delete Session / Delete PDP Context Requests. From each answer the driver learns the
// TEID and address simcored chose and rewrites the phase's frames to them. Then the frames go
// out in bursts; a burst ends when every frame expected to leave simcored has been seen leaving
// or nothing arrived for a quiet period, and a stateful reply always starts a new burst, so it
// never overtakes the packet it answers.
//
// What the wire shows is each frame's fate: forwarded out of the core or the access port, or
// not at all. Frames and what left are matched by content that survives the pipeline (inner IP
// identification and protocol, TCP sequence numbers, L4 payload; not addresses, ports or
// checksums, which NAT rewrites). The why of a drop is not on the wire; the offline replay
// (validate.h) checks reasons and rules per frame.
//
// Also measured: for the first uplink frame of each attached Thing, expected to be forwarded,
// the time from the attach's answer to that frame leaving the core port — the frame is sent the
// moment the answer arrives. Control thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"
#include "sim/generator.h"
#include "sim/link.h"

namespace simcore::sim {

struct OnlineOptions {
  // simcored's port addresses and MACs, and the MACs the driver answers with: the generator's
  // (default_ports()), so frames need no Ethernet rewrite.
  dp::PortConfig ports = default_ports();
  size_t attach_window = 64;    // Create requests in flight
  size_t burst = 256;           // frames sent before waiting for their outputs
  int answer_timeout_ms = 1000;  // T3; N3 is 3
  int quiet_ms = 30;            // a burst is over when nothing arrived for this long
  int drain_ms = 300;           // after the last burst
  // A pcapng of every frame sent and received, each commented with the frame it is and its
  // expected and observed fate; empty: none.
  std::string capture;
};

// The fate of a frame as the wire shows it.
enum class Fate : uint8_t { kUnchecked, kDropped, kForwardCore, kForwardAccess };
const char* fate_name(Fate f) noexcept;
// What the expectation means on the wire: kUnchecked for signalling (REPLY/PUNT), whose answer
// is not the frame itself.
Fate expected_fate(const Expected& e) noexcept;

struct OnlineAttach {
  std::string thing;
  std::string path;   // the behaviour's YAML path, or "account" for the account's sessions
  int gtp = 2;
  bool expected = true;   // the scenario's account accepts it
  bool answered = false;
  bool accepted = false;
  uint8_t cause = 0;
};

struct OnlineRun {
  std::vector<Fate> observed;      // per Traffic::frames entry
  std::vector<OnlineAttach> attaches;
  size_t detaches_sent = 0;
  size_t detaches_answered = 0;
  size_t other_outputs = 0;        // frames simcored sent that answer no replayed frame
  size_t arp_answered = 0;         // ARP requests from simcored the driver answered
  size_t addresses_rewritten = 0;  // sessions whose address differs from the generator's
  size_t unsendable = 0;           // frames shorter than an Ethernet header (file-only)
  std::vector<std::string> notes;
  // Timing (not deterministic: kept out of report.json).
  std::vector<uint64_t> first_packet_ns;  // answer → the frame out of the core port
  uint64_t attach_ns = 0;                 // first Create sent → last answer
  uint64_t traffic_ns = 0;                // first frame sent → last output seen
  uint64_t traffic_bytes = 0;             // bytes of the frames sent
};

// Runs the replay. Fails when the link fails, the capture cannot be written or the scenario's
// account does not load;
// mismatches are not failures (online_mismatches).
core::Result<OnlineRun> replay_online(const Scenario& s, const Traffic& traffic, Link& link,
                                      const OnlineOptions& o, const Progress& progress = {});

// Indexes of the frames whose observed fate is not the expected one, and the attaches whose
// result is not the expected one (as "path: thing: ..." lines).
std::vector<size_t> online_mismatches(const Traffic& traffic, const OnlineRun& r);
std::vector<std::string> attach_mismatches(const OnlineRun& r);

// report.json of an online run (deterministic: no times) and the terminal summary (with times).
std::string online_report_json(const std::string& scenario, const Traffic& traffic,
                               const OnlineRun& r);
std::string online_report_text(const std::string& scenario, const Traffic& traffic,
                               const OnlineRun& r, size_t max_listed = 20);

}  // namespace simcore::sim
