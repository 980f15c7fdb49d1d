#include "dataplane/testing/traffic.h"

#include <random>

#include "core/check.h"
#include "core/compiler.h"
#include "core/table_lookup.h"
#include "dataplane/packet/wire.h"
#include "tests/support/model_gen.h"

namespace simcore::dp::testing {

Traffic forwarding_traffic(const TrafficOptions& options, const PortConfig& ports) {
  SIMCORE_CHECK(options.inner_bytes >= 28);
  SIMCORE_CHECK(options.remotes >= 1 && options.remotes <= (1u << 24));
  Traffic out;
  ::simcore::testing::ModelGenOptions o;
  o.seed = options.seed;
  o.things = options.things;
  o.networks = 3;
  o.pools_per_network = 1;
  o.pool_len = 12;
  o.profiles = options.profiles;
  o.min_rules = options.rules;
  o.max_rules = options.rules;
  o.attached = 0.9;
  const auto g = ::simcore::testing::generate_model(o);
  core::Compiler c;
  out.tables = c.compile(g.account.model()).value();
  struct Sess {
    uint32_t teid, ue;
  };
  std::vector<Sess> sessions;
  for (const core::Thing& t : g.account.model().things) {
    if (t.session) sessions.push_back({t.session->uplink_teid, t.session->ue_addr.value});
  }
  out.sessions = sessions.size();
  SIMCORE_CHECK(!sessions.empty());

  std::mt19937_64 rng(7);
  const Bytes payload(options.inner_bytes - 28, 0x5a);
  const Ip4 outer = ip4(ip("100.64.0.1"), ports.access_addr);
  for (size_t tries = 0; tries < 50 * 1000 * 1000 && (out.uplink.size() < options.distinct ||
                                                      out.downlink.size() < options.distinct);
       ++tries) {
    const Sess& se = sessions[rng() % sessions.size()];
    const uint32_t remote = (options.remotes <= 256 ? ip("198.51.100.0") : ip("64.0.0.0")) +
                            static_cast<uint32_t>(rng() % options.remotes);
    const auto port = static_cast<uint16_t>(1024 + rng() % 60000);
    core::PacketDesc p;
    p.proto = kProtoUdp;
    // An empty flow memory each time: no frame depends on an earlier one's stateful flow.
    core::FlowMemory none;
    if (tries % 2 == 0 && out.uplink.size() < options.distinct) {
      p.dir = core::Direction::kUplink;
      p.teid = se.teid;
      p.src = core::Ipv4{se.ue};
      p.dst = core::Ipv4{remote};
      p.sport = port;
      p.dport = 443;
      if (core::lookup_packet(*out.tables, p, none).verdict != core::Verdict::kForward) continue;
      const Ip4 up = ip4(se.ue, remote);
      const Bytes inner = ipv4(up, kProtoUdp, udp(up, port, 443, payload));
      out.uplink.push_back(ethernet(
          ports.access_mac, ports.access_next_hop_mac, kEtherTypeIpv4,
          ipv4(outer, kProtoUdp,
               udp(outer, kGtpuPort, kGtpuPort, gtpu(kGtpuMsgGpdu, se.teid, inner), false))));
      if (options.replies && out.replies.size() < options.distinct) {
        // The answer goes to the address and port the Thing was seen from (after port
        // forwarding), and passes only as the flow this frame opened.
        core::FlowMemory opened;
        const core::Decision d = core::lookup_packet(*out.tables, p, opened);
        core::PacketDesc r;
        r.dir = core::Direction::kDownlink;
        r.proto = kProtoUdp;
        r.src = core::Ipv4{remote};
        r.dst = d.out.src;
        r.sport = 443;
        r.dport = d.out.sport;
        if (core::lookup_packet(*out.tables, r, opened).rule_id == core::kFlowRuleId) {
          const Ip4 down = ip4(remote, d.out.src.value);
          out.replies.push_back(ethernet(ports.core_mac, ports.core_next_hop_mac, kEtherTypeIpv4,
                                         ipv4(down, kProtoUdp, udp(down, 443, r.dport, payload))));
          out.reply_opens.push_back(out.uplink.back());
        }
      }
    } else if (tries % 2 == 1 && out.downlink.size() < options.distinct) {
      p.dir = core::Direction::kDownlink;
      p.src = core::Ipv4{remote};
      p.dst = core::Ipv4{se.ue};
      p.sport = 443;
      p.dport = port;
      if (core::lookup_packet(*out.tables, p, none).verdict != core::Verdict::kDeliver) continue;
      const Ip4 down = ip4(remote, se.ue);
      out.downlink.push_back(ethernet(ports.core_mac, ports.core_next_hop_mac, kEtherTypeIpv4,
                                      ipv4(down, kProtoUdp, udp(down, 443, port, payload))));
    }
  }
  SIMCORE_CHECK(out.uplink.size() == options.distinct && out.downlink.size() == options.distinct);
  return out;
}

}  // namespace simcore::dp::testing
