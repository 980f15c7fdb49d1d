#include "control/daemon/ike_link.h"

#include <cstring>

#include "dataplane/packet/arp.h"
#include "dataplane/packet/parse.h"
#include "dataplane/packet/wire.h"

namespace simcore::ctl {

IkeLink::IkeLink(ike::Ike& ike, const Options& options, Send send,
                 dp::NeighbourTable* neighbours)
    : ike_(ike), options_(options), send_(std::move(send)), neighbours_(neighbours) {}

bool IkeLink::on_frame(std::span<const uint8_t> frame) {
  dp::PacketView v;
  if (dp::parse_frame(frame.data(), static_cast<uint32_t>(frame.size()), dp::ParseMode::kCore, v) !=
      dp::ParseStatus::kOk) {
    return false;
  }
  const dp::Ipv4View& ip = v.outer;
  if (ip.proto != dp::kProtoUdp || !ip.has_l4 || ip.dst != options_.address.value ||
      (ip.dport != dp::kIkePort && ip.dport != dp::kIkeNatTPort)) {
    return false;
  }
  const size_t udp_len = size_t{frame[ip.l4_off + 4]} << 8 | frame[ip.l4_off + 5];
  if (udp_len < dp::kUdpHeaderLen || ip.l4_off + udp_len > frame.size()) {
    ++stats_.refused;
    return true;
  }
  ike::Datagram d;
  d.src = core::Ipv4{ip.src};
  d.dst = core::Ipv4{ip.dst};
  d.sport = ip.sport;
  d.dport = ip.dport;
  const uint8_t* payload = frame.data() + ip.l4_off + dp::kUdpHeaderLen;
  d.payload.assign(payload, payload + (udp_len - dp::kUdpHeaderLen));
  // A peer that talks IKE to us is about to be sent to: learn its MAC now when on-link.
  const uint32_t mask = options_.prefix_len ? ~0u << (32 - options_.prefix_len) : 0;
  if (neighbours_ && (ip.src & mask) == (options_.address.value & mask)) {
    dp::Mac src;
    std::memcpy(src.data(), frame.data() + 6, src.size());
    neighbours_->set(ip.src, src);
  }
  if (ike_.deliver(d)) {
    ++stats_.received;
  } else {
    ++stats_.refused;
  }
  return true;
}

uint32_t IkeLink::next_hop(uint32_t dst) const {
  const uint32_t mask = options_.prefix_len ? ~0u << (32 - options_.prefix_len) : 0;
  if ((dst & mask) == (options_.address.value & mask) || !options_.gateway) return dst;
  return options_.gateway->value;
}

bool IkeLink::send_one(const ike::Datagram& d, const dp::Mac& dst) {
  buf_.assign(dp::kUdpEncapLen + d.payload.size(), 0);
  std::memcpy(buf_.data() + dp::kUdpEncapLen, d.payload.data(), d.payload.size());
  dp::Frame f{buf_, dp::kUdpEncapLen, static_cast<uint32_t>(d.payload.size())};
  const dp::UdpHeaders h{dst, options_.mac, d.src.value, d.dst.value, d.sport, d.dport};
  if (!dp::udp_encap(f, h) || !send_(f.bytes())) {
    ++stats_.send_failed;
    return false;
  }
  ++stats_.sent;
  return true;
}

void IkeLink::flush(int64_t now_ms) {
  for (ike::Datagram& d : ike_.take_outgoing()) {
    const uint32_t hop = next_hop(d.dst.value);
    waiting_.push_back({std::move(d), hop, -1});
  }
  std::deque<Waiting> still;
  for (Waiting& w : waiting_) {
    dp::Mac mac{};
    if (neighbours_ && neighbours_->lookup(w.next_hop, mac)) {
      send_one(w.d, mac);
      continue;
    }
    if (w.since_ms < 0) {
      // First time unresolved: ask, once per datagram (charon sends few).
      w.since_ms = now_ms;
      std::vector<uint8_t> arp(64, 0);
      dp::Frame f{arp, 0, 0};
      if (dp::arp_request(f, options_.mac, options_.address.value, w.next_hop, 0) &&
          send_(f.bytes())) {
        ++stats_.arp_requests;
      }
    }
    if (now_ms - w.since_ms > kResolveWaitMs) {
      ++stats_.unresolved;
      continue;
    }
    still.push_back(std::move(w));
  }
  waiting_ = std::move(still);
}

std::string IkeLink::metrics() const {
  std::string out =
      "# HELP simcore_ike_datagrams_total IKE datagrams between the core port and charon "
      "(malformed: ones charon could not parse).\n"
      "# TYPE simcore_ike_datagrams_total counter\n";
  auto line = [&out](const char* what, uint64_t n) {
    out += "simcore_ike_datagrams_total{what=\"" + std::string(what) + "\"} " +
           std::to_string(n) + "\n";
  };
  line("received", stats_.received);
  line("refused", stats_.refused);
  line("sent", stats_.sent);
  line("send_failed", stats_.send_failed);
  line("unresolved", stats_.unresolved);
  line("arp_requests", stats_.arp_requests);
  line("malformed", ike_.malformed());
  return out;
}

}  // namespace simcore::ctl
