#include "control/daemon/signalling.h"

#include <cstring>
#include <iterator>
#include <string>
#include <utility>

#include "dataplane/packet/frame.h"
#include "dataplane/packet/parse.h"
#include "dataplane/packet/wire.h"

namespace simcore::ctl {
namespace {

constexpr uint8_t kGtpVersion1 = 1;

// Every handler counter, by the name /metrics gives it (the field's own name).
constexpr std::pair<const char*, uint64_t gtpc::PgwCounters::*> kPgwCounters[] = {
    {"echo_requests", &gtpc::PgwCounters::echo_requests},
    {"create_requests", &gtpc::PgwCounters::create_requests},
    {"modify_requests", &gtpc::PgwCounters::modify_requests},
    {"delete_requests", &gtpc::PgwCounters::delete_requests},
    {"delete_bearer_responses", &gtpc::PgwCounters::delete_bearer_responses},
    {"accepted", &gtpc::PgwCounters::accepted},
    {"refused_unknown_imsi", &gtpc::PgwCounters::refused_unknown_imsi},
    {"refused_not_active", &gtpc::PgwCounters::refused_not_active},
    {"refused_data_off", &gtpc::PgwCounters::refused_data_off},
    {"refused_unknown_apn", &gtpc::PgwCounters::refused_unknown_apn},
    {"refused_rat_not_allowed", &gtpc::PgwCounters::refused_rat_not_allowed},
    {"refused_roaming_not_allowed", &gtpc::PgwCounters::refused_roaming_not_allowed},
    {"refused_imei_locked", &gtpc::PgwCounters::refused_imei_locked},
    {"refused_no_address", &gtpc::PgwCounters::refused_no_address},
    {"refused_system_failure", &gtpc::PgwCounters::refused_system_failure},
    {"refused_pdn_type", &gtpc::PgwCounters::refused_pdn_type},
    {"modifies_accepted", &gtpc::PgwCounters::modifies_accepted},
    {"deletes_accepted", &gtpc::PgwCounters::deletes_accepted},
    {"malformed", &gtpc::PgwCounters::malformed},
    {"mandatory_missing", &gtpc::PgwCounters::mandatory_missing},
    {"mandatory_incorrect", &gtpc::PgwCounters::mandatory_incorrect},
    {"unknown_message", &gtpc::PgwCounters::unknown_message},
    {"unknown_peer", &gtpc::PgwCounters::unknown_peer},
    {"retransmissions_answered", &gtpc::PgwCounters::retransmissions_answered},
    {"context_not_found", &gtpc::PgwCounters::context_not_found},
    {"version_not_supported", &gtpc::PgwCounters::version_not_supported},
    {"peer_restarts", &gtpc::PgwCounters::peer_restarts},
    {"delete_bearer_sent", &gtpc::PgwCounters::delete_bearer_sent},
    {"delete_bearer_answered", &gtpc::PgwCounters::delete_bearer_answered},
    {"delete_bearer_timeouts", &gtpc::PgwCounters::delete_bearer_timeouts},
    {"unmatched_responses", &gtpc::PgwCounters::unmatched_responses},
    {"piggybacked_ignored", &gtpc::PgwCounters::piggybacked_ignored},
};

constexpr std::pair<const char*, uint64_t gtpc::GgsnCounters::*> kGgsnCounters[] = {
    {"echo_requests", &gtpc::GgsnCounters::echo_requests},
    {"create_requests", &gtpc::GgsnCounters::create_requests},
    {"update_requests", &gtpc::GgsnCounters::update_requests},
    {"delete_requests", &gtpc::GgsnCounters::delete_requests},
    {"accepted", &gtpc::GgsnCounters::accepted},
    {"refused_unknown_imsi", &gtpc::GgsnCounters::refused_unknown_imsi},
    {"refused_not_active", &gtpc::GgsnCounters::refused_not_active},
    {"refused_data_off", &gtpc::GgsnCounters::refused_data_off},
    {"refused_unknown_apn", &gtpc::GgsnCounters::refused_unknown_apn},
    {"refused_rat_not_allowed", &gtpc::GgsnCounters::refused_rat_not_allowed},
    {"refused_roaming_not_allowed", &gtpc::GgsnCounters::refused_roaming_not_allowed},
    {"refused_imei_locked", &gtpc::GgsnCounters::refused_imei_locked},
    {"refused_no_address", &gtpc::GgsnCounters::refused_no_address},
    {"refused_system_failure", &gtpc::GgsnCounters::refused_system_failure},
    {"refused_pdp_type", &gtpc::GgsnCounters::refused_pdp_type},
    {"refused_ipv6_sgsn", &gtpc::GgsnCounters::refused_ipv6_sgsn},
    {"updates_accepted", &gtpc::GgsnCounters::updates_accepted},
    {"deletes_accepted", &gtpc::GgsnCounters::deletes_accepted},
    {"malformed", &gtpc::GgsnCounters::malformed},
    {"mandatory_missing", &gtpc::GgsnCounters::mandatory_missing},
    {"mandatory_incorrect", &gtpc::GgsnCounters::mandatory_incorrect},
    {"unknown_message", &gtpc::GgsnCounters::unknown_message},
    {"unknown_peer", &gtpc::GgsnCounters::unknown_peer},
    {"retransmissions_answered", &gtpc::GgsnCounters::retransmissions_answered},
    {"non_existent", &gtpc::GgsnCounters::non_existent},
    {"version_not_supported", &gtpc::GgsnCounters::version_not_supported},
    {"peer_restarts", &gtpc::GgsnCounters::peer_restarts},
    {"delete_sent", &gtpc::GgsnCounters::delete_sent},
    {"delete_answered", &gtpc::GgsnCounters::delete_answered},
    {"delete_timeouts", &gtpc::GgsnCounters::delete_timeouts},
    {"unmatched_responses", &gtpc::GgsnCounters::unmatched_responses},
};
// A counter added to a handler but not to its list above fails here, not silently in /metrics.
static_assert(std::size(kPgwCounters) * sizeof(uint64_t) == sizeof(gtpc::PgwCounters));
static_assert(std::size(kGgsnCounters) * sizeof(uint64_t) == sizeof(gtpc::GgsnCounters));

gtpc::PgwConfig pgw_config(const Signalling::Options& o) {
  gtpc::PgwConfig c;
  c.control_addr = o.address;
  c.user_addr = o.address;
  c.restart_counter = o.restart_counter;
  c.allowed_peers = o.allowed_peers;
  return c;
}

gtpc::GgsnConfig ggsn_config(const Signalling::Options& o) {
  gtpc::GgsnConfig c;
  c.control_addr = o.address;
  c.user_addr = o.address;
  c.restart_counter = o.restart_counter;
  c.allowed_peers = o.allowed_peers;
  return c;
}

template <class Counters, size_t N>
void render(std::string& out, const char* role,
            const std::pair<const char*, uint64_t Counters::*> (&fields)[N], const Counters& c) {
  for (const auto& [name, member] : fields) {
    out += "simcore_gtpc_events_total{gsn=\"";
    out += role;
    out += "\",event=\"";
    out += name;
    out += "\"} " + std::to_string(c.*member) + "\n";
  }
}

}  // namespace

std::string Signalling::metrics() const {
  std::string out =
      "# HELP simcore_gtpc_events_total GTP-C outcomes of the PGW (GTPv2-C) and the GGSN "
      "(GTPv1-C).\n# TYPE simcore_gtpc_events_total counter\n";
  render(out, "pgw", kPgwCounters, pgw_.counters());
  render(out, "ggsn", kGgsnCounters, ggsn_.counters());
  out +=
      "# HELP simcore_gtpc_contexts Sessions each handler holds peer context for.\n"
      "# TYPE simcore_gtpc_contexts gauge\n"
      "simcore_gtpc_contexts{gsn=\"pgw\"} " +
      std::to_string(pgw_.sessions()) +
      "\n"
      "simcore_gtpc_contexts{gsn=\"ggsn\"} " +
      std::to_string(ggsn_.sessions()) +
      "\n"
      "# HELP simcore_gtpc_frames_total GTP-C frames in and out of the access port.\n"
      "# TYPE simcore_gtpc_frames_total counter\n"
      "simcore_gtpc_frames_total{dir=\"in\"} " +
      std::to_string(stats_.datagrams) +
      "\n"
      "simcore_gtpc_frames_total{dir=\"out\"} " +
      std::to_string(stats_.sent) +
      "\n"
      "# HELP simcore_gtpc_unsent_total Datagrams not sent: tx ring full, or no MAC for the "
      "peer.\n# TYPE simcore_gtpc_unsent_total counter\n"
      "simcore_gtpc_unsent_total{reason=\"tx_full\"} " +
      std::to_string(stats_.send_failed) +
      "\n"
      "simcore_gtpc_unsent_total{reason=\"unresolved\"} " +
      std::to_string(stats_.unresolved) +
      "\n"
      "# HELP simcore_gtpc_flush_failures_total Batches whose answers were withheld because "
      "the store refused them (the peers retransmit).\n"
      "# TYPE simcore_gtpc_flush_failures_total counter\n"
      "simcore_gtpc_flush_failures_total " +
      std::to_string(stats_.flush_failures) + "\n";
  return out;
}

Signalling::Signalling(gtpc::AttachBackend& backend, const Options& options, Send send,
                       dp::NeighbourTable* neighbours)
    : backend_(backend),
      options_(options),
      send_(std::move(send)),
      neighbours_(neighbours),
      pgw_(backend, pgw_config(options)),
      ggsn_(backend, ggsn_config(options)) {}

bool Signalling::on_frame(std::span<const uint8_t> frame, int64_t now_ms) {
  dp::PacketView v;
  // Core mode: nothing here is GTP-U, and UDP is all we need.
  if (dp::parse_frame(frame.data(), static_cast<uint32_t>(frame.size()), dp::ParseMode::kCore, v) !=
      dp::ParseStatus::kOk) {
    return false;
  }
  const dp::Ipv4View& ip = v.outer;
  if (ip.proto != dp::kProtoUdp || !ip.has_l4 || ip.dport != gtpc::kGtpcPort ||
      ip.dst != options_.address.value) {
    return false;
  }
  const size_t udp_len = size_t{frame[ip.l4_off + 4]} << 8 | frame[ip.l4_off + 5];
  gtpc::Datagram in;
  in.from = {core::Ipv4{ip.src}, ip.sport};
  in.to = {core::Ipv4{ip.dst}, ip.dport};
  const uint8_t* payload = frame.data() + ip.l4_off + dp::kUdpHeaderLen;
  in.payload.assign(payload, payload + (udp_len - dp::kUdpHeaderLen));
  dp::Mac src;
  std::memcpy(src.data(), frame.data() + 6, src.size());
  peer_macs_[ip.src] = src;
  const uint32_t mask = options_.prefix_len ? ~0u << (32 - options_.prefix_len) : 0;
  if (neighbours_ && (ip.src & mask) == (options_.address.value & mask)) {
    neighbours_->set(ip.src, src);
  }
  ++stats_.datagrams;
  // The version is the top three bits of the first octet; anything but 1 goes to the PGW,
  // which answers other versions with Version Not Supported.
  if (!in.payload.empty() && (in.payload[0] >> 5) == kGtpVersion1) {
    ggsn_.on_datagram(in, now_ms, out_);
  } else {
    pgw_.on_datagram(in, now_ms, out_);
  }
  return true;
}

void Signalling::finish(std::span<const uint32_t> ended, int64_t now_ms) {
  if (!backend_.flush()) {
    ++stats_.flush_failures;
    out_.clear();
    pgw_.forget_responses();
    ggsn_.forget_responses();
  }
  // Each handler knows its own sessions and ignores the other's.
  for (const uint32_t teid : ended) {
    pgw_.on_session_ended(teid, now_ms, out_);
    ggsn_.on_session_ended(teid, now_ms, out_);
  }
  pgw_.tick(now_ms, out_);
  ggsn_.tick(now_ms, out_);
  send_all(out_);
}

void Signalling::send_all(std::vector<gtpc::Datagram>& out) {
  for (const gtpc::Datagram& d : out) {
    dp::Mac dst{};
    if (auto it = peer_macs_.find(d.to.addr.value); it != peer_macs_.end()) {
      dst = it->second;
    } else if (!neighbours_ || !neighbours_->lookup(d.to.addr.value, dst)) {
      ++stats_.unresolved;
      continue;
    }
    buf_.assign(dp::kUdpEncapLen + d.payload.size(), 0);
    std::memcpy(buf_.data() + dp::kUdpEncapLen, d.payload.data(), d.payload.size());
    dp::Frame f{buf_, dp::kUdpEncapLen, static_cast<uint32_t>(d.payload.size())};
    // Handlers may leave `from` to us: it is always our GTP-C endpoint.
    const uint32_t src = d.from.addr.value ? d.from.addr.value : options_.address.value;
    const uint16_t sport = d.from.port ? d.from.port : gtpc::kGtpcPort;
    const dp::UdpHeaders h{dst, options_.mac, src, d.to.addr.value, sport, d.to.port};
    if (!dp::udp_encap(f, h)) continue;
    if (send_(f.bytes())) {
      ++stats_.sent;
    } else {
      ++stats_.send_failed;
    }
  }
  out.clear();
}

}  // namespace simcore::ctl
