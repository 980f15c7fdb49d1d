// The config file: defaults, every key, and errors that name the key.
#include "control/daemon/config.h"

#include <gtest/gtest.h>

namespace simcore::ctl {
namespace {

TEST(Config, EmptyTextGivesTheEmbeddedDefaults) {
  auto c = load_config_text("");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->listen_address, "127.0.0.1");
  EXPECT_EQ(c->port, 8080);
  EXPECT_EQ(c->rate_plan.currency, "EUR");
  EXPECT_EQ(c->sms_validity_s, 86400);
}

TEST(Config, ReadsTheRatePlanSmsValidityAndAttachSettings) {
  auto c = load_config_text(
      "ratePlan: {currency: USD, feePerCycle: 2.5, pricePerMb: 0.1, pricePerSms: 0.03}\n"
      "smsValiditySeconds: 600\n"
      "dnsServers: [192.0.2.53, 198.51.100.53]\n"
      "servedMccs: [204, 1]\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->rate_plan.currency, "USD");
  EXPECT_DOUBLE_EQ(c->rate_plan.fee_per_cycle, 2.5);
  EXPECT_DOUBLE_EQ(c->rate_plan.price_per_mb, 0.1);
  EXPECT_DOUBLE_EQ(c->rate_plan.price_per_sms, 0.03);
  EXPECT_EQ(c->sms_validity_s, 600);
  ASSERT_EQ(c->dns_servers.size(), 2u);
  EXPECT_EQ(c->dns_servers[1].str(), "198.51.100.53");
  EXPECT_EQ(c->served_mccs, (std::vector<uint16_t>{204, 1}));
}

TEST(Config, TheDataplaneSectionTurnsTheFastPathOn) {
  EXPECT_FALSE(load_config_text("")->dataplane.has_value());
  auto c = load_config_text(
      "dataplane:\n"
      "  workers: 2\n"
      "  idleSleepMicros: 0\n"
      "  packedMbufs: true\n"
      "  flowsPerWorker: 1048576\n"
      "  ealArgs: ['--force-max-simd-bitwidth=512', '-n4', '--huge-dir=/mnt/huge']\n"
      "  access: {port: net_pcap0, devargs: 'rx_pcap=a.pcap,tx_pcap=b.pcap', address: 192.0.2.1,"
      " prefixLength: 24, gateway: 192.0.2.254, mtu: 1400,"
      " neighbours: [{address: 192.0.2.254, mac: '02:00:00:00:01:fe'}]}\n"
      "  core: {port: net_ring0, address: 203.0.113.1}\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->dataplane.has_value());
  const DataplaneConfig& d = *c->dataplane;
  EXPECT_EQ(d.workers, 2u);
  EXPECT_EQ(d.idle_sleep_us, 0u);
  EXPECT_TRUE(d.packed_mbufs);
  EXPECT_EQ(d.flows_per_worker, 1u << 20);
  EXPECT_EQ(d.eal_args, (std::vector<std::string>{"--force-max-simd-bitwidth=512", "-n4",
                                                  "--huge-dir=/mnt/huge"}));
  EXPECT_EQ(d.access.port, "net_pcap0");
  EXPECT_EQ(d.access.devargs, "rx_pcap=a.pcap,tx_pcap=b.pcap");
  EXPECT_EQ(d.access.address.value, 0xc0000201u);
  EXPECT_EQ(d.access.gateway->value, 0xc00002feu);
  EXPECT_EQ(d.access.mtu, 1400);
  ASSERT_EQ(d.access.neighbours.size(), 1u);
  EXPECT_EQ(d.access.neighbours[0].second[5], 0xfe);
  EXPECT_EQ(d.core.mtu, 1500);  // defaults
  EXPECT_FALSE(d.core.gateway.has_value());
  EXPECT_FALSE(d.ike.has_value());
  auto plain = load_config_text(
      "dataplane: {access: {port: a, address: 1.2.3.4}, core: {port: c, address: 5.6.7.8}}\n");
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  EXPECT_FALSE(plain->dataplane->packed_mbufs);  // the stock pool unless asked
  EXPECT_EQ(plain->dataplane->flows_per_worker, 65536u);
  EXPECT_TRUE(plain->dataplane->eal_args.empty());
}

TEST(Config, TheIkeSectionTurnsCharonOn) {
  const std::string ports =
      "  access: {port: net_null0, address: 192.0.2.1}\n"
      "  core: {port: net_null1, address: 203.0.113.1}\n";
  auto plain = load_config_text("dataplane:\n" + ports + "  ike:\n");
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  ASSERT_TRUE(plain->dataplane->ike.has_value());
  EXPECT_EQ(plain->dataplane->ike->port, 500);
  EXPECT_EQ(plain->dataplane->ike->natt_port, 4500);
  EXPECT_EQ(plain->dataplane->ike->log_level, -1);
  auto c = load_config_text("dataplane:\n" + ports +
                            "  ike: {port: 5000, nattPort: 5001, peerPort: 5002, logLevel: 1,"
                            " retransmitTries: 2, retransmitTimeoutSeconds: 0.5,"
                            " childRekeySeconds: 60, retrySeconds: 2, forceUdpEncap: true}\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  const IkeSection& k = *c->dataplane->ike;
  EXPECT_EQ(k.port, 5000);
  EXPECT_EQ(k.natt_port, 5001);
  EXPECT_EQ(k.peer_port, 5002);
  EXPECT_EQ(k.log_level, 1);
  EXPECT_EQ(k.retransmit_tries, 2u);
  EXPECT_DOUBLE_EQ(k.retransmit_timeout_s, 0.5);
  EXPECT_EQ(k.child_rekey_seconds, 60u);
  EXPECT_EQ(k.retry_seconds, 2u);
  EXPECT_TRUE(k.force_udp_encap);
}

TEST(Config, ErrorsNameTheKey) {
  struct Case {
    const char* text;
    const char* names;
  } cases[] = {
      {"prot: 80\n", "prot"},
      {"port: 70000\n", "port"},
      {"port: eighty\n", "port"},
      {"ratePlan: {feePerCycle: -1}\n", "ratePlan"},
      {"ratePlan: {fee: 1}\n", "ratePlan.fee"},
      {"ratePlan: {currency: EURO}\n", "ratePlan.currency"},
      {"smsValiditySeconds: 0\n", "smsValiditySeconds"},
      {"dnsServers: [8.8.8]\n", "dnsServers"},
      {"dnsServers: 8.8.8.8\n", "dnsServers"},
      {"servedMccs: [1000]\n", "servedMccs"},
      {"tlsCertFile: a.pem\n", "tlsKeyFile"},
      {"apiPrefix: api/\n", "apiPrefix"},
      {"adminClientSecret: short\n", "adminClientSecret"},
      {"dataplane: {workers: 0, access: {port: a, address: 1.2.3.4}, core: {port: c, "
       "address: 5.6.7.8}}\n",
       "dataplane.workers"},
      {"dataplane: {access: {port: a, address: 1.2.3.4}}\n", "dataplane.core"},
      {"dataplane: {packedMbufs: maybe, access: {port: a, address: 1.2.3.4}, core: {port: c, "
       "address: 5.6.7.8}}\n",
       "dataplane.packedMbufs"},
      {"dataplane: {flowsPerWorker: 100000, access: {port: a, address: 1.2.3.4}, core: {port: c, "
       "address: 5.6.7.8}}\n",
       "dataplane.flowsPerWorker"},
      {"dataplane: {flowsPerWorker: 512, access: {port: a, address: 1.2.3.4}, core: {port: c, "
       "address: 5.6.7.8}}\n",
       "dataplane.flowsPerWorker"},
      {"dataplane: {access: {port: a, address: 1.2.3}, core: {port: c, address: 5.6.7.8}}\n",
       "dataplane.access.address"},
      // EAL options: a list, one option per entry, none that simcored sets from its own keys.
      {"dataplane: {ealArgs: --no-telemetry, access: {port: a, address: 1.2.3.4}, "
       "core: {port: c, address: 5.6.7.8}}\n",
       "dataplane.ealArgs"},
      {"dataplane: {ealArgs: ['-n4', '--huge-dir', /mnt/huge], access: {port: a, "
       "address: 1.2.3.4}, core: {port: c, address: 5.6.7.8}}\n",
       "dataplane.ealArgs[2]"},
      {"dataplane: {ealArgs: ['--lcores=0@0'], access: {port: a, address: 1.2.3.4}, "
       "core: {port: c, address: 5.6.7.8}}\n",
       "dataplane.ealArgs[0]: is set by dataplane.lcores"},
      {"dataplane: {ealArgs: ['-n4', '-m1024'], access: {port: a, address: 1.2.3.4}, "
       "core: {port: c, address: 5.6.7.8}}\n",
       "dataplane.ealArgs[1]: is set by dataplane.memoryMb"},
      {"dataplane: {ealArgs: ['--vdev=net_null0'], access: {port: a, address: 1.2.3.4}, "
       "core: {port: c, address: 5.6.7.8}}\n",
       "dataplane.ealArgs[0]"},
      {"dataplane: {access: {port: a, address: 1.2.3.4, mtu: 100}, core: {port: c, "
       "address: 5.6.7.8}}\n",
       "dataplane.access.mtu"},
      {"dataplane: {access: {port: a, address: 1.2.3.4, neighbours: [{address: 1.2.3.5, "
       "mac: nope}]}, core: {port: c, address: 5.6.7.8}}\n",
       "dataplane.access.neighbours"},
      {"dataplane: {access: {port: a, address: 1.2.3.4, vlan: 3}, core: {port: c, "
       "address: 5.6.7.8}}\n",
       "dataplane.access.vlan"},
      {"dataplane: {access: {port: a, address: 1.2.3.4}, core: {port: c, address: 5.6.7.8}, "
       "ike: {nattPort: 500}}\n",
       "dataplane.ike.nattPort"},
      {"dataplane: {access: {port: a, address: 1.2.3.4}, core: {port: c, address: 5.6.7.8}, "
       "ike: {logLevel: 9}}\n",
       "dataplane.ike.logLevel"},
      {"dataplane: {access: {port: a, address: 1.2.3.4}, core: {port: c, address: 5.6.7.8}, "
       "ike: {psk: x}}\n",
       "dataplane.ike.psk"},
  };
  for (const Case& c : cases) {
    auto r = load_config_text(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().message().find(c.names), std::string::npos)
        << c.text << " -> " << r.error().message();
  }
}

}  // namespace
}  // namespace simcore::ctl
