#include "sim/online.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <sstream>
#include <unordered_map>

#include <boost/json.hpp>

#include "dataplane/packet/arp.h"
#include "dataplane/packet/checksum.h"
#include "dataplane/packet/parse.h"
#include "dataplane/packet/rewrite.h"
#include "dataplane/packet/wire.h"
#include "dataplane/pcapng.h"
#include "sim/gtpc_peer.h"

namespace simcore::sim {
namespace {

namespace json = boost::json;
using Bytes = std::vector<uint8_t>;

constexpr int kRetransmissions = 3;
constexpr uint32_t kHeadroom = 128;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

uint64_t fnv(uint64_t h, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// What of an IPv4 packet survives the pipeline: identification, protocol, total length, TCP
// sequence and acknowledgement numbers, and the L4 payload. NAT rewrites addresses, ports and
// checksums; TTL is decremented; all of that is left out.
std::optional<uint64_t> content_key(const uint8_t* frame, const dp::Ipv4View& ip) {
  if (ip.total_len < ip.hdr_len) return std::nullopt;
  const uint8_t* p = frame + ip.off;
  uint64_t h = 0xcbf29ce484222325ull;
  h = fnv(h, p + 4, 2);  // identification
  h = fnv(h, &ip.proto, 1);
  h = fnv(h, p + 2, 2);  // total length
  const size_t l4_len = ip.total_len - ip.hdr_len;
  const uint8_t* l4 = p + ip.hdr_len;
  size_t skip = 0;
  switch (ip.proto) {
    case dp::kProtoTcp:
      if (l4_len >= 12) h = fnv(h, l4 + 4, 8);
      skip = dp::kTcpMinHeaderLen;
      break;
    case dp::kProtoUdp: skip = dp::kUdpHeaderLen; break;
    case dp::kProtoIcmp: skip = dp::kIcmpHeaderLen; break;
    default: break;
  }
  if (l4_len > skip) h = fnv(h, l4 + skip, l4_len - skip);
  return h;
}

// The IPv4 packet a frame carries: the G-PDU's inner packet on the access side, the frame's own
// on the core side. nullptr when there is none.
const dp::Ipv4View* carried(const dp::PacketView& v, dp::Port side) {
  if (side == dp::Port::kAccess) {
    return v.has_gtpu && v.inner_version == 4 ? &v.inner : nullptr;
  }
  return &v.outer;
}

void fix_checksums(uint8_t* frame, const dp::Ipv4View& ip) {
  uint8_t* p = frame + ip.off;
  put16(p + 10, 0);
  put16(p + 10, dp::internet_checksum(p, ip.hdr_len));
  if (!ip.has_l4 || (ip.frag & 0x3fff) != 0) return;
  uint8_t* l4 = p + ip.hdr_len;
  const uint16_t len = static_cast<uint16_t>(ip.total_len - ip.hdr_len);
  size_t at = 0;
  if (ip.proto == dp::kProtoUdp && len >= dp::kUdpHeaderLen) {
    if (be16(l4 + 6) == 0) return;  // no checksum sent: none to fix
    at = 6;
  } else if (ip.proto == dp::kProtoTcp && len >= dp::kTcpMinHeaderLen) {
    at = 16;
  } else {
    return;  // ICMP's checksum does not cover the addresses
  }
  put16(l4 + at, 0);
  uint32_t sum = dp::ones_sum(p + 12, 8);
  sum += ip.proto;
  sum += len;
  uint16_t c = dp::internet_checksum(l4, len, sum);
  if (ip.proto == dp::kProtoUdp && c == 0) c = 0xffff;
  put16(l4 + at, c);
}

// One Create or Delete request and its retransmission state.
struct PendingRequest {
  bool attach = true;  // false: a Delete
  size_t result = 0;  // attach: index into OnlineRun::attaches
  int gtp = 2;
  std::string iccid;
  uint32_t gen_teid = 0;
  core::Ipv4 gen_addr;
  Bytes frame;
  uint64_t sent_ns = 0;
  int retries = 0;
};


struct Gateway {
  int gtp = 2;
  uint32_t control_teid = 0;
};

class Driver {
 public:
  Driver(const Traffic& t, Link& link, const OnlineOptions& o, const Progress& progress,
         dp::PcapngWriter* capture)
      : t_(t), link_(link), o_(o), progress_(progress), capture_(capture) {
    run_.observed.assign(t.frames.size(), Fate::kDropped);
    for (size_t i = 0; i < t.frames.size(); ++i) {
      if (expected_fate(t.frames[i].expect) == Fate::kUnchecked) {
        run_.observed[i] = Fate::kUnchecked;
      }
    }
  }

  core::Result<OnlineRun> run(core::Account shadow) {
    size_t begin = 0;
    uint64_t traffic_start = 0;
    for (int phase = 0; phase < t_.phases; ++phase) {
      size_t end = begin;
      while (end < t_.frames.size() && t_.frames[end].phase == phase) ++end;
      if (core::Status st = sessions(shadow, phase, begin, end); !st) return st.error();
      if (traffic_start == 0) traffic_start = steady_ns();
      if (core::Status st = traffic(begin, end); !st) return st.error();
      begin = end;
    }
    // Whatever is still on its way, including frames that should not have left at all.
    while (link_.receive(o_.drain_ms, on_frame_) > 0) {
    }
    if (error_) return *error_;
    run_.traffic_ns = last_output_ns_ > traffic_start ? last_output_ns_ - traffic_start : 0;
    return std::move(run_);
  }

 private:
  // --- sessions ---------------------------------------------------------------------------

  core::Status sessions(core::Account& shadow, int phase, size_t begin, size_t end) {
    first_frame_by_teid(begin, end);
    std::vector<PendingRequest> attaches;
    std::vector<std::string> detaches;  // ICCIDs
    if (phase == 0) {
      // The account file's simulated sessions, in Thing order as the loader attached them.
      for (const core::Thing& th : shadow.model().things) {
        if (!th.session) continue;
        core::AttachRequest r;
        r.uplink_teid = th.session->uplink_teid;
        r.peer_addr = th.session->peer_addr;
        r.peer_teid = th.session->peer_teid;
        r.apn = th.session->apn;
        r.rat = th.session->rat;
        r.mcc = th.session->mcc;
        r.mnc = th.session->mnc;
        r.imei = th.imei;
        auto a = prepare(th, 2, r, "account", true, th.session->ue_addr);
        if (!a) return a.error();
        attaches.push_back(std::move(*a));
      }
    }
    for (const SessionOp& op : t_.ops) {
      if (op.phase != phase) continue;
      const core::Thing* th = shadow.thing_by_iccid(op.iccid);
      if (!op.attach) {
        if (th != nullptr && th->session) (void)shadow.detach(th->id);
        detaches.push_back(op.iccid);
        continue;
      }
      if (th == nullptr) continue;
      auto accepted = shadow.attach(th->id, op.request);
      const core::Thing* now = shadow.thing_by_iccid(op.iccid);
      auto a = prepare(*now, op.gtp, op.request, op.path, accepted.ok(),
                       accepted ? accepted->ue_addr : core::Ipv4{});
      if (!a) return a.error();
      attaches.push_back(std::move(*a));
    }
    const uint64_t start = steady_ns();
    if (core::Status st = exchange(attaches); !st) return st;
    if (!attaches.empty()) run_.attach_ns += steady_ns() - start;
    return detach_all(detaches);
  }

  core::Result<PendingRequest> prepare(const core::Thing& th, int gtp, const core::AttachRequest& r,
                                      const std::string& path, bool expected,
                                      core::Ipv4 gen_addr) {
    PeerAttach pa;
    pa.gtp = gtp;
    pa.imsi = th.imsi;
    pa.imei = r.imei;
    pa.request = r;
    pa.control_addr = r.peer_addr;  // one SGW per eNodeB address: its GTP-C and GTP-U
    pa.control_teid = next_control_teid_++;
    pa.seq = next_seq(gtp);
    auto payload = build_attach(pa);
    if (!payload) {
      return core::Error(payload.error().code(), path + ": " + th.name + ": " +
                                                     payload.error().message());
    }
    PendingRequest a;
    a.result = run_.attaches.size();
    run_.attaches.push_back({th.name, path, gtp, expected, false, false, 0});
    a.gtp = gtp;
    a.iccid = th.iccid;
    a.gen_teid = r.uplink_teid;
    a.gen_addr = gen_addr;
    a.frame = gtpc_frame(r.peer_addr, *payload);
    return a;
  }

  uint32_t next_seq(int gtp) {
    // GTPv1 sequence numbers are 16 bits, GTPv2's 24; one counter keeps them unique per run.
    const uint32_t seq = seq_++;
    return gtp == 1 ? (seq & 0xffff) : (seq & 0xffffff);
  }

  Bytes gtpc_frame(core::Ipv4 from, const Bytes& payload) const {
    Bytes buf(kHeadroom + payload.size());
    std::copy(payload.begin(), payload.end(), buf.begin() + kHeadroom);
    dp::Frame f{buf, kHeadroom, static_cast<uint32_t>(payload.size())};
    (void)dp::udp_encap(f, {o_.ports.access_mac, o_.ports.access_next_hop_mac, from.value,
                            o_.ports.access_addr, dp::kGtpcPort, dp::kGtpcPort});
    return {f.data(), f.data() + f.data_len};
  }

  // Sends the requests with at most attach_window in flight (a burst of thousands would
  // overflow the gateway's queues, as it would a real PGW's), retransmitting after T3.
  core::Status exchange(std::vector<PendingRequest>& attaches) {
    if (attaches.empty()) return {};
    size_t next = 0, done = 0;
    inflight_.clear();
    while (done < attaches.size()) {
      while (next < attaches.size() && inflight_.size() < o_.attach_window) {
        PendingRequest& a = attaches[next++];
        const std::string what =
            a.attach ? "attach " + run_.attaches[a.result].thing : "detach " + a.iccid;
        if (core::Status st = send(dp::Port::kAccess, a.frame, what); !st) return st;
        a.sent_ns = steady_ns();
        inflight_.emplace(seq_of(a.frame), &a);
      }
      const size_t before = inflight_.size();
      (void)link_.receive(10, on_frame_);
      if (error_) return *error_;
      done += before - inflight_.size();
      // T3 expired: the same bytes again, or give up after N3.
      const uint64_t now = steady_ns();
      for (auto it = inflight_.begin(); it != inflight_.end();) {
        PendingRequest& a = *it->second;
        if (now - a.sent_ns < uint64_t(o_.answer_timeout_ms) * 1'000'000) {
          ++it;
          continue;
        }
        if (a.retries++ < kRetransmissions) {
          if (core::Status st = send(dp::Port::kAccess, a.frame, "retransmitted"); !st) {
            return st;
          }
          a.sent_ns = now;
          ++it;
        } else {
          it = inflight_.erase(it);
          ++done;
        }
      }
    }
    return {};
  }

  static uint32_t seq_of(const Bytes& frame) {
    const Bytes payload(frame.begin() + dp::kUdpEncapLen, frame.end());
    return gtpc_sequence(payload).value_or(0);
  }

  void on_attach_answer(PendingRequest& a, const AttachAnswer& ans, uint64_t ts) {
    OnlineAttach& r = run_.attaches[a.result];
    r.answered = true;
    r.accepted = ans.accepted;
    r.cause = ans.cause;
    if (!ans.accepted) return;
    gateways_[a.iccid] = {a.gtp, ans.control_teid};
    teids_[a.gen_teid] = ans.uplink_teid;
    if (ans.ue_addr && a.gen_addr.value != 0) {
      addrs_[a.gen_addr.value] = ans.ue_addr->value;
      if (ans.ue_addr->value != a.gen_addr.value) ++run_.addresses_rewritten;
    }
    probe(a, ts);
  }

  // The Thing's first frame of the phase goes out now, if it is an uplink frame expected out
  // of the core port and nothing sent to the Thing comes before it.
  void probe(const PendingRequest& a, uint64_t answer_ts) {
    const auto it = first_uplink_.find(a.gen_teid);
    if (it == first_uplink_.end()) return;
    const size_t i = it->second;
    const SimFrame& f = t_.frames[i];
    if (f.reply || expected_fate(f.expect) != Fate::kForwardCore) return;
    if (const auto d = first_downlink_.find(a.gen_addr.value);
        d != first_downlink_.end() && d->second < i) {
      return;
    }
    if (core::Status st = send_frame(i); !st) {
      error_ = st.error();
      return;
    }
    probes_[i] = answer_ts;
  }

  void first_frame_by_teid(size_t begin, size_t end) {
    first_uplink_.clear();
    first_downlink_.clear();
    for (size_t i = begin; i < end; ++i) {
      const SimFrame& f = t_.frames[i];
      if (f.port == dp::Port::kAccess) {
        first_uplink_.emplace(f.desc.teid, i);
      } else {
        first_downlink_.emplace(f.desc.dst.value, i);
      }
    }
  }

  core::Status detach_all(const std::vector<std::string>& iccids) {
    std::vector<PendingRequest> pending;
    for (const std::string& iccid : iccids) {
      const auto g = gateways_.find(iccid);
      if (g == gateways_.end()) continue;  // never attached: nothing to delete
      const Bytes payload = build_detach(g->second.gtp, g->second.control_teid,
                                         next_seq(g->second.gtp));
      PendingRequest d;
      d.attach = false;
      d.gtp = g->second.gtp;
      d.iccid = iccid;
      // simcored takes a Delete only from the session's own peer.
      d.frame = gtpc_frame(peer_of_.at(iccid), payload);
      pending.push_back(std::move(d));
      gateways_.erase(g);
    }
    run_.detaches_sent += pending.size();
    return exchange(pending);
  }

  // --- traffic ----------------------------------------------------------------------------

  core::Status traffic(size_t begin, size_t end) {
    size_t in_burst = 0;
    for (size_t i = begin; i < end; ++i) {
      if (probes_.count(i) != 0) continue;  // already sent after its attach
      if (t_.frames[i].reply && in_burst > 0) {
        flush();
        in_burst = 0;
      }
      if (core::Status st = send_frame(i); !st) return st;
      if (++in_burst >= o_.burst) {
        flush();
        in_burst = 0;
        if (progress_) progress_(i + 1 - begin, end - begin);
      }
    }
    flush();
    if (progress_) progress_(end - begin, end - begin);
    return error_ ? core::Status(*error_) : core::Status{};
  }

  // Waits until every frame expected to leave has left, or nothing arrives for quiet_ms.
  // Frames still missing then count as dropped for pacing (a late one is still matched).
  void flush() {
    while (outstanding_ > 0) {
      if (link_.receive(o_.quiet_ms, on_frame_) == 0) break;
    }
    (void)link_.receive(0, on_frame_);
    outstanding_ = 0;
  }

  core::Status send_frame(size_t i) {
    const SimFrame& f = t_.frames[i];
    if (f.bytes.size() < dp::kEthHeaderLen) {
      // A frame shorter than its Ethernet header exists only in a file: no NIC or veth sends
      // it (the kernel refuses). The offline replay checks it.
      run_.observed[i] = Fate::kUnchecked;
      ++run_.unsendable;
      return {};
    }
    Bytes bytes = f.bytes;
    rewrite(bytes, f.port);
    if (core::Status st = send(f.port, bytes, frame_comment(i)); !st) return st;
    run_.traffic_bytes += bytes.size();
    dp::PacketView v{};
    const dp::ParseMode mode = f.port == dp::Port::kAccess ? dp::ParseMode::kAccess
                                                           : dp::ParseMode::kCore;
    if (dp::parse_frame(bytes.data(), static_cast<uint32_t>(bytes.size()), mode, v) ==
        dp::ParseStatus::kOk) {
      if (const dp::Ipv4View* ip = carried(v, f.port)) {
        if (auto key = content_key(bytes.data(), *ip)) sent_[*key].push_back(i);
      }
    }
    const Fate want = expected_fate(f.expect);
    if (want == Fate::kForwardCore || want == Fate::kForwardAccess) ++outstanding_;
    return {};
  }

  // The generator's TEIDs and addresses → simcored's, and the checksums that cover them.
  void rewrite(Bytes& bytes, dp::Port port) {
    dp::PacketView v{};
    const dp::ParseMode mode = port == dp::Port::kAccess ? dp::ParseMode::kAccess
                                                         : dp::ParseMode::kCore;
    if (dp::parse_frame(bytes.data(), static_cast<uint32_t>(bytes.size()), mode, v) !=
        dp::ParseStatus::kOk) {
      return;  // malformed on purpose: sent as generated
    }
    if (port == dp::Port::kAccess && v.has_gtpu) {
      uint8_t* teid = bytes.data() + v.gtpu.off + 4;
      if (const auto it = teids_.find(be32(teid)); it != teids_.end()) put32(teid, it->second);
    }
    const dp::Ipv4View* ip = carried(v, port);
    if (ip == nullptr) return;
    uint8_t* p = bytes.data() + ip->off;
    bool changed = false;
    for (const size_t at : {size_t{12}, size_t{16}}) {
      const auto it = addrs_.find(be32(p + at));
      if (it == addrs_.end() || it->second == be32(p + at)) continue;
      put32(p + at, it->second);
      changed = true;
    }
    if (changed) fix_checksums(bytes.data(), *ip);
  }

  // --- what arrives -----------------------------------------------------------------------

  void on_frame(dp::Port side, uint64_t ts, std::span<const uint8_t> bytes) {
    dp::PacketView v{};
    const dp::ParseMode mode = side == dp::Port::kAccess ? dp::ParseMode::kAccess
                                                         : dp::ParseMode::kCore;
    const dp::ParseStatus st =
        dp::parse_frame(bytes.data(), static_cast<uint32_t>(bytes.size()), mode, v);
    if (st == dp::ParseStatus::kArp) {
      record(iface(side, false), bytes, "ARP");
      if (v.arp.op == 1) answer_arp(side, bytes, v);
      return;
    }
    if (st != dp::ParseStatus::kOk) {
      record(iface(side, false), bytes, "not from the replay");
      ++run_.other_outputs;
      return;
    }
    if (side == dp::Port::kAccess && !v.has_gtpu && v.outer.proto == dp::kProtoUdp &&
        v.outer.has_l4 && v.outer.sport == dp::kGtpcPort) {
      const size_t at = v.outer.l4_off + dp::kUdpHeaderLen;
      const size_t end = v.outer.off + v.outer.total_len;
      record(iface(side, false), bytes, "GTP-C from simcored");
      if (at <= end && end <= bytes.size()) on_gtpc(Bytes(bytes.begin() + at, bytes.begin() + end), ts);
      return;
    }
    const dp::Ipv4View* ip = carried(v, side);
    const auto key = ip == nullptr ? std::nullopt : content_key(bytes.data(), *ip);
    const auto it = key ? sent_.find(*key) : sent_.end();
    if (it == sent_.end() || it->second.empty()) {
      record(iface(side, false), bytes, "not from the replay (ICMP error, ...)");
      ++run_.other_outputs;
      return;
    }
    const size_t i = it->second.front();
    it->second.pop_front();
    run_.observed[i] = side == dp::Port::kAccess ? Fate::kForwardAccess : Fate::kForwardCore;
    record(iface(side, false), bytes,
           frame_comment(i) + ", observed " + fate_name(run_.observed[i]));
    last_output_ns_ = ts;
    const Fate want = expected_fate(t_.frames[i].expect);
    if ((want == Fate::kForwardCore || want == Fate::kForwardAccess) && outstanding_ > 0) {
      --outstanding_;
    }
    if (const auto p = probes_.find(i); p != probes_.end() && ts > p->second) {
      run_.first_packet_ns.push_back(ts - p->second);
    }
  }

  // Every address simcored asks for on our side is ours: the gateways it routes through and
  // the on-link peers.
  void answer_arp(dp::Port side, std::span<const uint8_t> bytes, const dp::PacketView& v) {
    Bytes buf(bytes.begin(), bytes.end());
    buf.resize(std::max<size_t>(buf.size(), 60));
    dp::Frame f{buf, 0, static_cast<uint32_t>(bytes.size())};
    const dp::Mac& mac =
        side == dp::Port::kAccess ? o_.ports.access_next_hop_mac : o_.ports.core_next_hop_mac;
    dp::arp_reply_in_place(f, v, mac, v.arp.tpa);
    if (core::Status st = send(side, f.bytes(), "ARP reply from the driver"); !st) {
      error_ = st.error();
      return;
    }
    ++run_.arp_answered;
  }

  void on_gtpc(const Bytes& payload, uint64_t ts) {
    const std::optional<uint32_t> seq = gtpc_sequence(payload);
    if (!seq) {
      ++run_.other_outputs;
      return;
    }
    const auto it = inflight_.find(*seq);
    if (it != inflight_.end() && !it->second->attach) {
      uint32_t s = 0;
      if (decode_detach_answer(it->second->gtp, payload, s)) {
        ++run_.detaches_answered;
        inflight_.erase(it);
        return;
      }
    }
    if (it != inflight_.end() && it->second->attach) {
      PendingRequest& a = *it->second;
      auto ans = decode_attach_answer(a.gtp, payload);
      if (!ans) {
        ++run_.other_outputs;  // e.g. an Echo Request of simcored's with a clashing number
        return;
      }
      inflight_.erase(it);
      peer_of_[a.iccid] = core::Ipv4{be32(a.frame.data() + dp::kEthHeaderLen + 12)};
      on_attach_answer(a, *ans, ts);
      return;
    }
    ++run_.other_outputs;  // retransmitted answers, Echo Requests, ...
  }

  // Interfaces of the capture: what went to each port and what came out of it.
  enum CaptureIface : uint32_t { kToAccess, kFromAccess, kToCore, kFromCore };
  static uint32_t iface(dp::Port side, bool sent) {
    if (side == dp::Port::kAccess) return sent ? kToAccess : kFromAccess;
    return sent ? kToCore : kFromCore;
  }
  void record(uint32_t ifc, std::span<const uint8_t> bytes, const std::string& comment) {
    if (capture_ == nullptr || error_) return;
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
    if (core::Status st = capture_->write(ifc, ns, bytes, comment); !st) error_ = st.error();
  }
  std::string frame_comment(size_t i) const {
    const SimFrame& f = t_.frames[i];
    return "frame " + std::to_string(i) + " (" + t_.flows[f.flow].name + "): expected " +
           expected_key(f.expect) + " -> " + fate_name(expected_fate(f.expect));
  }
  core::Status send(dp::Port side, std::span<const uint8_t> bytes, const std::string& comment) {
    record(iface(side, true), bytes, comment);
    return link_.send(side, bytes);
  }

  const Traffic& t_;
  Link& link_;
  const OnlineOptions& o_;
  const Progress& progress_;
  dp::PcapngWriter* capture_;
  OnlineRun run_;
  std::optional<core::Error> error_;
  OnFrame on_frame_ = [this](dp::Port side, uint64_t ts, std::span<const uint8_t> b) {
    on_frame(side, ts, b);
  };

  uint32_t seq_ = 1;
  uint32_t next_control_teid_ = 0x1000;
  std::unordered_map<uint32_t, PendingRequest*> inflight_;
  std::unordered_map<std::string, Gateway> gateways_;     // ICCID → the session's gateway side
  std::unordered_map<std::string, core::Ipv4> peer_of_;  // ICCID → the peer that attached it
  std::unordered_map<uint32_t, uint32_t> teids_;          // generator's uplink TEID → simcored's
  std::unordered_map<uint32_t, uint32_t> addrs_;          // generator's UE address → simcored's
  std::unordered_map<uint32_t, size_t> first_uplink_;     // generator TEID → first frame (phase)
  std::unordered_map<uint32_t, size_t> first_downlink_;   // address → first frame to it (phase)
  std::unordered_map<size_t, uint64_t> probes_;           // frame sent early → its answer's time
  std::unordered_map<uint64_t, std::deque<size_t>> sent_;  // content key → frames, in send order
  size_t outstanding_ = 0;  // frames sent that should leave and have not been seen yet
  uint64_t last_output_ns_ = 0;
};

std::string fate_text(Fate f) { return fate_name(f); }

struct Tally {
  uint64_t frames = 0, mismatched = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> fates;  // fate → (expected, observed)
};

}  // namespace

const char* fate_name(Fate f) noexcept {
  switch (f) {
    case Fate::kUnchecked: return "UNCHECKED";
    case Fate::kDropped: return "DROPPED";
    case Fate::kForwardCore: return "OUT core";
    case Fate::kForwardAccess: return "OUT access";
  }
  return "?";
}

Fate expected_fate(const Expected& e) noexcept {
  if (e.malformed) return Fate::kDropped;
  if (e.pipeline != dp::PipelineDrop::kNone) return Fate::kDropped;
  switch (e.decision.verdict) {
    case core::Verdict::kForward: return Fate::kForwardCore;
    case core::Verdict::kHairpin:
    case core::Verdict::kDeliver: return Fate::kForwardAccess;
    case core::Verdict::kTunnel:  // no IKE peer in a replay: no CHILD_SA, dropped (pipeline set)
    case core::Verdict::kDrop: return Fate::kDropped;
  }
  return Fate::kUnchecked;
}

core::Result<OnlineRun> replay_online(const Scenario& s, const Traffic& traffic, Link& link,
                                      const OnlineOptions& o, const Progress& progress) {
  auto account = load_scenario_account(s);
  if (!account) return account.error();
  std::optional<dp::PcapngWriter> capture;
  if (!o.capture.empty()) {
    auto w = dp::PcapngWriter::open(
        o.capture, {{"to-access"}, {"from-access"}, {"to-core"}, {"from-core"}});
    if (!w) return w.error();
    capture.emplace(std::move(*w));
  }
  Driver d(traffic, link, o, progress, capture ? &*capture : nullptr);
  auto run = d.run(std::move(*account));
  if (capture) {
    if (core::Status st = capture->close(); !st) return st.error();
  }
  return run;
}

std::vector<size_t> online_mismatches(const Traffic& traffic, const OnlineRun& r) {
  std::vector<size_t> out;
  for (size_t i = 0; i < traffic.frames.size() && i < r.observed.size(); ++i) {
    const Fate want = expected_fate(traffic.frames[i].expect);
    if (want != Fate::kUnchecked && r.observed[i] != Fate::kUnchecked && r.observed[i] != want) {
      out.push_back(i);
    }
  }
  return out;
}

std::vector<std::string> attach_mismatches(const OnlineRun& r) {
  std::vector<std::string> out;
  for (const OnlineAttach& a : r.attaches) {
    if (a.answered && a.accepted == a.expected) continue;
    std::string line = a.path + ": " + a.thing + ": expected " +
                       (a.expected ? "accepted" : "refused") + ", got ";
    line += !a.answered ? "no answer"
                        : (a.accepted ? "accepted" : "refused with cause " + std::to_string(a.cause));
    out.push_back(std::move(line));
  }
  return out;
}

namespace {

std::map<std::string, Tally> per_flow(const Traffic& t, const OnlineRun& r) {
  std::map<std::string, Tally> flows;
  for (size_t i = 0; i < t.frames.size(); ++i) {
    const Fate want = expected_fate(t.frames[i].expect);
    Tally& tl = flows[t.flows[t.frames[i].flow].name];
    ++tl.frames;
    ++tl.fates[fate_text(want)].first;
    ++tl.fates[fate_text(r.observed[i])].second;
    if (want != Fate::kUnchecked && r.observed[i] != Fate::kUnchecked && r.observed[i] != want) {
      ++tl.mismatched;
    }
  }
  return flows;
}

std::map<std::string, uint64_t> cause_counts(const OnlineRun& r) {
  std::map<std::string, uint64_t> out;
  for (const OnlineAttach& a : r.attaches) {
    ++out[!a.answered ? "unanswered" : std::string("GTPv") + std::to_string(a.gtp) + " cause " +
                                           std::to_string(a.cause)];
  }
  return out;
}

}  // namespace

std::string online_report_json(const std::string& scenario, const Traffic& traffic,
                               const OnlineRun& r) {
  const std::vector<size_t> mm = online_mismatches(traffic, r);
  const std::vector<std::string> am = attach_mismatches(r);
  json::object top;
  top["scenario"] = scenario;
  top["mode"] = "online";
  json::object totals;
  totals["frames"] = traffic.frames.size();
  totals["mismatches"] = mm.size();
  totals["attachMismatches"] = am.size();
  totals["attaches"] = r.attaches.size();
  totals["detachesSent"] = r.detaches_sent;
  totals["detachesAnswered"] = r.detaches_answered;
  totals["unsendable"] = r.unsendable;
  top["totals"] = std::move(totals);
  json::array attach;
  for (const std::string& l : am) attach.emplace_back(l);
  top["attachMismatches"] = std::move(attach);
  json::object causes;
  for (const auto& [k, n] : cause_counts(r)) causes[k] = n;
  top["attachResults"] = std::move(causes);
  json::array list;
  for (const size_t i : mm) {
    const SimFrame& f = traffic.frames[i];
    json::object m;
    m["frame"] = i;
    m["flow"] = traffic.flows[f.flow].name;
    m["expected"] = expected_key(f.expect);
    m["expectedFate"] = fate_name(expected_fate(f.expect));
    m["observedFate"] = fate_name(r.observed[i]);
    list.emplace_back(std::move(m));
  }
  top["mismatches"] = std::move(list);
  json::object flows;
  for (const auto& [name, tl] : per_flow(traffic, r)) {
    json::object fl;
    fl["frames"] = tl.frames;
    fl["mismatches"] = tl.mismatched;
    json::object fates;
    for (const auto& [k, n] : tl.fates) fates[k] = json::array{n.first, n.second};
    fl["fates"] = std::move(fates);  // fate → [expected, observed]
    flows[name] = std::move(fl);
  }
  top["flows"] = std::move(flows);
  json::array notes;
  for (const std::string& n : r.notes) notes.emplace_back(n);
  top["notes"] = std::move(notes);
  return json::serialize(top) + "\n";
}

std::string online_report_text(const std::string& scenario, const Traffic& traffic,
                               const OnlineRun& r, size_t max_listed) {
  const std::vector<size_t> mm = online_mismatches(traffic, r);
  const std::vector<std::string> am = attach_mismatches(r);
  std::ostringstream out;
  out << "online replay of " << scenario << " through simcored\n";
  size_t accepted = 0, expected = 0;
  for (const OnlineAttach& a : r.attaches) {
    accepted += a.accepted ? 1 : 0;
    expected += a.expected ? 1 : 0;
  }
  out << "attach: " << r.attaches.size() << " Create requests, " << accepted << " accepted ("
      << expected << " expected)";
  for (const auto& [k, n] : cause_counts(r)) out << "; " << k << ": " << n;
  out << "\ndetach: " << r.detaches_sent << " Delete requests, " << r.detaches_answered
      << " answered\n";
  for (size_t i = 0; i < am.size() && i < max_listed; ++i) out << "  ATTACH MISMATCH " << am[i] << "\n";
  if (!mm.empty()) out << "mismatches (" << mm.size() << "):\n";
  for (size_t k = 0; k < mm.size() && k < max_listed; ++k) {
    const SimFrame& f = traffic.frames[mm[k]];
    out << "  frame " << mm[k] << " (" << traffic.flows[f.flow].name << "): expected "
        << expected_key(f.expect) << " → " << fate_name(expected_fate(f.expect)) << ", observed "
        << fate_name(r.observed[mm[k]]) << "\n";
  }
  const auto flows = per_flow(traffic, r);
  std::vector<std::pair<std::string, Tally>> ordered(flows.begin(), flows.end());
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& a, const auto& b) { return a.second.mismatched > b.second.mismatched; });
  out << "per flow (fate: expected/observed):\n";
  for (const auto& [name, tl] : ordered) {
    out << "  " << (tl.mismatched > 0 ? "MISMATCH " : "ok       ") << name << ": " << tl.frames
        << " frames";
    for (const auto& [k, n] : tl.fates) out << ", " << k << " " << n.first << "/" << n.second;
    out << "\n";
  }
  const double secs = static_cast<double>(r.traffic_ns) / 1e9;
  out << "frames: " << traffic.frames.size() << " sent, " << mm.size() << " mismatched fates, "
      << r.other_outputs << " other frames from simcored (ICMP errors, answers), "
      << r.arp_answered << " ARP requests answered";
  if (r.unsendable > 0) out << ", " << r.unsendable << " frames too short for a real link not sent";
  out << "\n";
  if (secs > 0) {
    char line[200];
    std::snprintf(line, sizeof(line),
                  "throughput: %.2f s of traffic, %.0f frames/s, %.1f Mbit/s offered (paced by "
                  "the driver, not simcored's limit)\n",
                  secs, static_cast<double>(traffic.frames.size()) / secs,
                  static_cast<double>(r.traffic_bytes) * 8 / secs / 1e6);
    out << line;
  }
  if (r.attach_ns > 0) {
    char line[200];
    std::snprintf(line, sizeof(line), "attach: %zu answered in %.3f s (%.0f attaches/s)\n",
                  r.attaches.size(), static_cast<double>(r.attach_ns) / 1e9,
                  static_cast<double>(r.attaches.size()) / (static_cast<double>(r.attach_ns) / 1e9));
    out << line;
  }
  if (!r.first_packet_ns.empty()) {
    std::vector<uint64_t> v = r.first_packet_ns;
    std::sort(v.begin(), v.end());
    char line[200];
    std::snprintf(line, sizeof(line),
                  "first packet: %zu sessions, answer → first G-PDU out of the core port: median "
                  "%.3f ms, p99 %.3f ms, max %.3f ms\n",
                  v.size(), static_cast<double>(v[v.size() / 2]) / 1e6,
                  static_cast<double>(v[std::min(v.size() - 1, v.size() * 99 / 100)]) / 1e6,
                  static_cast<double>(v.back()) / 1e6);
    out << line;
  }
  out << (mm.empty() && am.empty() ? "result: PASS, every frame's fate as expected\n"
                                   : "result: FAIL\n");
  return out.str();
}

}  // namespace simcore::sim
