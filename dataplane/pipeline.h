// dataplane/pipeline.h — one packet through the data plane, without EAL: parse → PacketDesc →
// classify (core::lookup_packet, or the DPDK layer's own lookup) → act on the Decision
// (decapsulate, NAT rewrite, VLAN, encapsulate, count the drop), plus what a real gateway does
// for itself: ARP for its port addresses, next hops resolved through the NeighbourTable, ICMP
// errors (rate limited), GTP-C/IKE/ARP replies punted to control. The DPDK layer calls it per
// mbuf of a burst through a Frame that maps the mbuf. Any worker thread on a published
// snapshot; each worker owns its classifier state (flow memory), WorkerContext and frames.
// No exceptions, no allocation (TableClassifier's core::FlowMemory still allocates when a
// stateful flow opens: the DPDK classifier uses the per-worker dp::FlowTable instead).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/flow_memory.h"
#include "core/tables.h"
#include "core/verdict.h"
#include "dataplane/neighbour.h"
#include "dataplane/packet/frame.h"
#include "dataplane/packet/parse.h"
#include "dataplane/packet/rewrite.h"

namespace simcore::dp {

enum class Port : uint8_t {
  kAccess,   // toward the radio network: GTP-U
  kCore,     // toward the internet and back ends: plain IPv4, VLAN per network
  kNone,     // not sent anywhere: dropped
  kControl,  // punted, untouched, to the control thread (GTP-C, IKE, ARP replies)
  // The DPDK layer's ESP stage (dataplane/dpdk/esp.h), which sends or drops the frame itself:
  kEsp,    // uplink into an IPsec tunnel: the frame holds the inner IPv4 packet (no L2), to be
           // encrypted with the tunnel's outbound SA (Outcome::tunnel) and sent out of the core
  kEspIn,  // ESP (or ESP in UDP) to core_addr, untouched: to be decrypted, then processed as a
           // downlink packet (process() again, so it is counted in rx once more)
};
inline constexpr size_t kPortCount = 2;

// The two ports, host order. A packet leaving a port goes to its destination when that is
// inside the port's on-link prefix (addr/prefix_len; 0 = nothing on-link), else to the port's
// gateway; the next hop's MAC comes from the NeighbourTable, except that a non-zero
// *_next_hop_mac is the gateway's static MAC (no table, no ARP). MTUs are IPv4 total lengths.
struct PortConfig {
  uint32_t access_addr;  // our GTP-U endpoint: outer source of every G-PDU we send
  uint32_t core_addr;    // our address on the core side (IKE to it is punted)
  Mac access_mac;
  Mac access_next_hop_mac;  // static MAC of access_gateway, or zero (resolve it)
  Mac core_mac;
  Mac core_next_hop_mac;  // static MAC of core_gateway, or zero (resolve it)
  uint8_t access_prefix_len = 0;
  uint8_t core_prefix_len = 0;
  uint16_t access_mtu = 1500;
  uint16_t core_mtu = 1500;
  uint32_t access_gateway = 0;  // 0: none (off-link destinations are unresolved)
  uint32_t core_gateway = 0;
};

// The data plane's own drops (parse statuses and policy drops have their own lists).
#define SIMCORE_PIPELINE_DROPS(X)                                                                \
  X(kNone, "none", "not dropped")                                                                \
  X(kUplinkTunnelUnavailable, "uplink.tunnel_unavailable",                                        \
    "IPsec route, but no CHILD_SA is installed for the tunnel (IKE not up)")                     \
  X(kTtlExceeded, "ipv4.ttl_exceeded", "TTL 0 or 1: it would expire here (ICMP error sent)")    \
  X(kAccessNotGtpu, "access.not_gtpu", "access port, neither GTP-U nor GTP-C to access_addr")    \
  X(kAccessNotForUs, "access.not_for_us", "G-PDU whose outer destination is not access_addr")    \
  X(kCoreToSelf, "core.to_self", "core port, to core_addr but not IKE (UDP 500/4500)")           \
  X(kNoHeadroom, "dataplane.no_headroom", "frame too short of headroom or too long to encap")    \
  X(kArpNotForUs, "arp.not_for_us", "ARP request or reply not for the port's address")          \
  X(kNeighbourUnresolved, "neighbour.unresolved", "next hop's MAC unknown (ARP request sent)")   \
  X(kFragNeeded, "mtu.frag_needed", "over the MTU with DF set (ICMP Fragmentation Needed sent)") \
  X(kMtuExceeded, "mtu.exceeded", "over the MTU without DF: dropped, no fragmentation")          \
  X(kEspUnknownSpi, "esp.unknown_spi", "ESP to core_addr whose SPI names no inbound SA")         \
  X(kEspMalformed, "esp.malformed", "ESP too short or not a whole number of cipher blocks")      \
  X(kEspReplay, "esp.replay", "ESP sequence number replayed or left of the anti-replay window")  \
  X(kEspAuthFailed, "esp.auth_failed", "ESP integrity check (ICV) failed")                       \
  X(kEspPolicy, "esp.policy_mismatch", "decrypted packet outside the tunnel's traffic selectors") \
  X(kEspEncryptFailed, "esp.encrypt_failed", "ESP encapsulation failed (no room in the buffer)")

enum class PipelineDrop : uint8_t {
#define SIMCORE_X(id, name, desc) id,
  SIMCORE_PIPELINE_DROPS(SIMCORE_X)
#undef SIMCORE_X
      kCount
};
inline constexpr size_t kPipelineDropCount = static_cast<size_t>(PipelineDrop::kCount);
inline constexpr size_t kVerdictCount = 5;
inline constexpr size_t kPolicyDropCount = static_cast<size_t>(core::DropReason::kCount);

// Why a frame went to Port::kControl.
#define SIMCORE_PUNTS(X)                                                 \
  X(kNone, "none", "not punted")                                        \
  X(kGtpc, "punt.gtpc", "GTP-C (UDP 2123) to access_addr: attach")      \
  X(kIke, "punt.ike", "IKE (UDP 500/4500) to core_addr: charon")        \
  X(kArpReply, "punt.arp_reply", "ARP reply to a port address: learn")

enum class Punt : uint8_t {
#define SIMCORE_X(id, name, desc) id,
  SIMCORE_PUNTS(SIMCORE_X)
#undef SIMCORE_X
      kCount
};
inline constexpr size_t kPuntCount = static_cast<size_t>(Punt::kCount);

const char* port_name(Port p) noexcept;
// Returns the counter name, e.g. "uplink.tunnel_unavailable".
const char* pipeline_drop_name(PipelineDrop d) noexcept;
const char* pipeline_drop_description(PipelineDrop d) noexcept;
const char* punt_name(Punt p) noexcept;
const char* punt_description(Punt p) noexcept;

// One worker's counters: plain arrays, written by that worker only, read by control. A frame
// is counted once in rx, once in parse, and then in exactly one of: tx (forwarded, or answered
// in place: Echo Response, ARP reply), punt, or a drop array: parse (statuses other than kOk,
// kGtpuEchoRequest and kArp), policy (verdict kDrop) or pipeline. A frame handed to the ESP
// stage (kEsp, kEspIn) is counted by that stage in tx or a pipeline drop; a decrypted one
// re-enters and is counted as a new core frame. A dropped packet's frame may
// still leave carrying a generated message, counted in arp_requests or icmp_errors: frames
// sent = tx + arp_requests + icmp_errors.
struct alignas(64) Counters {
  uint64_t rx[kPortCount];
  uint64_t tx[kPortCount];
  uint64_t parse[kPortCount][kParseStatusCount];
  uint64_t verdict[kVerdictCount];  // policy decisions, by core::Verdict
  uint64_t policy_drop[kPolicyDropCount];
  uint64_t pipeline_drop[kPipelineDropCount];
  uint64_t punt[kPuntCount];
  uint64_t echo_replies;
  uint64_t arp_replies;             // requests for a port address answered (in tx)
  uint64_t arp_requests;            // sent for unresolved next hops
  uint64_t arp_requests_throttled;  // not sent: one per next hop per kArpRetryNs
  uint64_t icmp_time_exceeded;      // type 11 code 0 sent
  uint64_t icmp_frag_needed;        // type 3 code 4 sent
  uint64_t icmp_suppressed;         // not sent: rate limit, RFC 1122 rules, or no way back
  uint64_t esp_encrypted;           // uplink packets sent into a tunnel (in tx)
  uint64_t esp_decrypted;           // ESP frames decrypted; each re-entered as a core frame
};
static_assert(std::is_trivially_copyable_v<Counters>);

// A token bucket over the caller's clock: `rate` tokens per second, at most `burst` saved.
// Starts full. One worker; no allocation.
class TokenBucket {
 public:
  TokenBucket(uint32_t rate_per_s, uint32_t burst) noexcept
      : period_ns_(rate_per_s ? 1'000'000'000ull / rate_per_s : ~0ull),
        cap_ns_(rate_per_s ? period_ns_ * burst : 0),
        credit_ns_(cap_ns_) {}
  // Returns true (and spends a token) when one is available at now_ns (monotonic).
  bool take(uint64_t now_ns) noexcept {
    if (now_ns > last_ns_) {
      const uint64_t add = now_ns - last_ns_;
      credit_ns_ = add >= cap_ns_ - credit_ns_ ? cap_ns_ : credit_ns_ + add;
      last_ns_ = now_ns;
    }
    if (credit_ns_ < period_ns_) return false;
    credit_ns_ -= period_ns_;
    return true;
  }

 private:
  uint64_t period_ns_;
  uint64_t cap_ns_;
  uint64_t credit_ns_;
  uint64_t last_ns_ = 0;
};

// At most one ARP request per next hop per kArpRetryNs from one worker: a direct-mapped
// memory of recent targets (a collision forgets one, costing at most an extra request).
inline constexpr uint64_t kArpRetryNs = 100'000'000;
struct ArpThrottle {
  static constexpr size_t kSlots = 64;
  uint32_t addr[kSlots] = {};
  uint64_t sent_ns[kSlots] = {};
  // Returns true (and remembers now_ns) when a request for `target` may go out now.
  bool allow(uint32_t target, uint64_t now_ns) noexcept {
    const size_t i = ((target * 0x9e3779b9u) >> 26) & (kSlots - 1);
    if (addr[i] == target && now_ns - sent_ns[i] < kArpRetryNs && now_ns >= sent_ns[i]) {
      return false;
    }
    addr[i] = target;
    sent_ns[i] = now_ns;
    return true;
  }
};

// Everything one worker owns besides its classifier: the clock it was given for this burst,
// its rate limiters and its counters. Defaults: 100 ICMP errors per second, burst 10.
struct alignas(64) WorkerContext {
  uint64_t now_ns = 0;  // monotonic; set by the worker once per burst
  TokenBucket icmp{100, 10};
  ArpThrottle arp;
  Counters counters{};
};

// What happened to one frame. `out` says where the frame goes now: a port (send it), kControl
// (punt it, untouched) or kNone (free it). `drop` != kNone means the received packet was
// dropped; the frame may then still leave carrying an ARP request or an ICMP error.
struct Outcome {
  Port out = Port::kNone;
  ParseStatus parse = ParseStatus::kOk;
  bool policed = false;  // the classifier ran on the packet: verdict and policy_drop are valid
  core::Verdict verdict = core::Verdict::kDrop;
  core::DropReason policy_drop = core::DropReason::kNone;
  PipelineDrop drop = PipelineDrop::kNone;
  Punt punt = Punt::kNone;
  // When policed, from the Decision: the stage and rule that decided, the Thing the packet
  // belongs to and the one it is delivered to (core::kNoThing when none), and the inner IPv4
  // length — what per-Thing counters and annotated replays need.
  core::Stage stage = core::Stage::kSession;
  uint16_t inner_len = 0;
  uint32_t rule_id = 0;
  uint32_t thing = core::kNoThing.value;
  uint32_t target = core::kNoThing.value;
  uint32_t tunnel = 0;  // out == kEsp: the IPsec tunnel (API id) whose SA encrypts it
};

// The portable classifier: core::lookup_packet on a published snapshot with the evaluators'
// flow memory. Any callable `Decision(const core::PacketDesc&)` can stand in for it.
struct TableClassifier {
  const core::CompiledTables& tables;
  core::FlowMemory& flows;
  core::Decision operator()(const core::PacketDesc& p) const;
};

// process() in two phases, so a caller can classify many packets at once between them:
// begin_frame() does everything before the policy lookup and never calls a classifier, takes
// an ICMP token or sends an ARP request (so it may run ahead of earlier packets' second
// phase); finish_frame() does the rest, in the packets' order. process() is the two in a row.
enum class Step : uint8_t {
  kDone,         // the Outcome is final (ARP, Echo, punts, parse and address drops)
  kDecide,       // finish_frame() needs the classifier's Decision on the packet's PacketDesc
  kTtlExceeded,  // TTL 0 or 1: finish_frame() sends the ICMP error (uplink: asks `classify`)
};

// What the first phase hands the second about one frame: plain data, no pointers into it.
struct Pending {
  PacketView v;  // the frame as parsed on arrival
  Outcome o;     // final when step == kDone
  Port in = Port::kAccess;
  Step step = Step::kDone;
};
static_assert(std::is_trivially_copyable_v<Pending>);

// Phase 1 of process() for the frame received on `in`: parses it, counts rx and the parse
// status, and answers, punts or drops what needs no policy (ARP, GTP-U Echo, GTP-C, IKE,
// not-for-us). Writes `desc` when it returns Step::kDecide. Any worker; no allocation.
Step begin_frame(const PortConfig& config, Port in, Frame& frame, WorkerContext& worker,
                 Pending& p, core::PacketDesc& desc) noexcept;

// Phase 2 of process(): acts on `d` (the Decision on begin_frame's `desc`, non-null exactly
// when p.step == Step::kDecide) — verdict counters, MTU, NAT, encapsulation, next hop — or
// sends the TTL error, and writes the frame's Outcome into `out`. Frames must be finished in
// the order they were received; `classify` is called only for an ICMP error about an uplink
// packet (see finish_may_classify).
template <class Classify>
void finish_frame(Classify& classify, const PortConfig& config, const NeighbourTable& neighbours,
                  Frame& frame, WorkerContext& worker, const Pending& p, const core::Decision* d,
                  Outcome& out) noexcept;

// After the ESP stage encrypted a kEsp frame (f holds the outer IPv4 packet, no L2): Ethernet
// toward `peer` out of the core port, untagged, or the frame becomes an ARP request for the
// next hop. Counts esp_encrypted and tx, or the drop, into the frame's Outcome `o`.
void esp_leave(const PortConfig& config, const NeighbourTable& neighbours, WorkerContext& worker,
               Frame& frame, uint32_t peer, Outcome& o) noexcept;

// Returns true when finish_frame() may call the classifier for `p` (an ICMP error about an
// uplink packet: TTL, or over an MTU with DF). A caller deciding a burst ahead must finish such
// a packet before deciding later ones: that call must see the flows of earlier packets only.
bool finish_may_classify(const PortConfig& config, const Pending& p) noexcept;

// Processes the frame received on `in`: uplink for the access port, downlink for the core
// port, ARP on both. The frame is rewritten in place (a downlink encapsulation needs
// kGtpuEncapLen + 14 bytes of headroom; a downlink ICMP error 14). `classify` is called with
// the packet's PacketDesc (and, for an ICMP error about an uplink packet, with a downlink
// PacketDesc toward the sender to find its tunnel). Counts into worker.counters.
template <class Classify>
Outcome process(Classify& classify, const PortConfig& config, const NeighbourTable& neighbours,
                Port in, Frame& frame, WorkerContext& worker) noexcept;

}  // namespace simcore::dp

#include "dataplane/pipeline_impl.h"
