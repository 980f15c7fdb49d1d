// dataplane/pipeline.h — one packet through the data plane, without EAL: parse → PacketDesc →
// core::lookup_packet → act on the Decision (decapsulate, NAT rewrite, VLAN, encapsulate, or
// count the drop). The DPDK layer calls it per mbuf of a burst through a Frame that maps the
// mbuf. Any worker thread on a published snapshot; each worker owns its FlowMemory, Counters
// and frames. No exceptions; no allocation here (core::FlowMemory, the evaluators' stand-in
// for the per-worker flow table, still allocates when a stateful flow opens).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/flow_memory.h"
#include "core/tables.h"
#include "core/verdict.h"
#include "dataplane/packet/frame.h"
#include "dataplane/packet/parse.h"
#include "dataplane/packet/rewrite.h"

namespace simcore::dp {

enum class Port : uint8_t {
  kAccess,  // toward the radio network: GTP-U
  kCore,    // toward the internet and back ends: plain IPv4, VLAN per network
  kNone,    // not sent anywhere: dropped
};
inline constexpr size_t kPortCount = 2;

// The two ports' addresses, host order. There is no ARP yet: every frame out of a port goes to
// that port's configured next hop.
struct PortConfig {
  uint32_t access_addr;  // our GTP-U endpoint: outer source of every G-PDU we send
  uint32_t core_addr;    // our address on the core side (packets to it are for control)
  Mac access_mac;
  Mac access_next_hop_mac;  // the eNodeB/SGW side router (or the peer itself)
  Mac core_mac;
  Mac core_next_hop_mac;
};

// The data plane's own drops (parse statuses and policy drops have their own lists).
#define SIMCORE_PIPELINE_DROPS(X)                                                            \
  X(kNone, "none", "not dropped")                                                            \
  X(kUplinkTunnelUnavailable, "uplink.tunnel_unavailable", "IPsec route: ESP not built yet") \
  X(kTtlExceeded, "ipv4.ttl_exceeded", "inner TTL 0 or 1: it would expire at this hop")      \
  X(kAccessNotGtpu, "access.not_gtpu", "access port, not GTP-U (GTP-C punt not built yet)")  \
  X(kCoreToSelf, "core.to_self", "core port, to our own address (IKE punt not built yet)")   \
  X(kNoHeadroom, "dataplane.no_headroom", "frame too short of headroom or too long to encap")

enum class PipelineDrop : uint8_t {
#define SIMCORE_X(id, name, desc) id,
  SIMCORE_PIPELINE_DROPS(SIMCORE_X)
#undef SIMCORE_X
      kCount
};
inline constexpr size_t kPipelineDropCount = static_cast<size_t>(PipelineDrop::kCount);
inline constexpr size_t kVerdictCount = 5;
inline constexpr size_t kPolicyDropCount = static_cast<size_t>(core::DropReason::kCount);

const char* port_name(Port p) noexcept;
// Returns the counter name, e.g. "uplink.tunnel_unavailable".
const char* pipeline_drop_name(PipelineDrop d) noexcept;
const char* pipeline_drop_description(PipelineDrop d) noexcept;

// One worker's counters: plain arrays, written by that worker only, read by control. A frame
// is counted once in rx, once in parse, and then either in tx or in exactly one drop array:
// parse (statuses other than kOk and kGtpuEchoRequest), policy (verdict kDrop) or pipeline.
struct alignas(64) Counters {
  uint64_t rx[kPortCount];
  uint64_t tx[kPortCount];
  uint64_t parse[kPortCount][kParseStatusCount];
  uint64_t verdict[kVerdictCount];  // policy decisions, by core::Verdict
  uint64_t policy_drop[kPolicyDropCount];
  uint64_t pipeline_drop[kPipelineDropCount];
  uint64_t echo_replies;
};
static_assert(std::is_trivially_copyable_v<Counters>);

// What happened to one frame. When `out` is not kNone the frame holds the packet to send.
struct Outcome {
  Port out = Port::kNone;
  ParseStatus parse = ParseStatus::kOk;
  bool policed = false;  // lookup_packet ran: verdict and policy_drop are valid
  core::Verdict verdict = core::Verdict::kDrop;
  core::DropReason policy_drop = core::DropReason::kNone;
  PipelineDrop drop = PipelineDrop::kNone;
};

// Processes the frame received on `in`: uplink for the access port, downlink for the core
// port. The frame is rewritten in place (it needs kGtpuEncapLen + 14 bytes of headroom for a
// downlink encapsulation). Counts into `counters`; opens stateful flows in `flows`.
Outcome process(const core::CompiledTables& tables, core::FlowMemory& flows,
                const PortConfig& config, Port in, Frame& frame, Counters& counters) noexcept;

}  // namespace simcore::dp
