// control/daemon/config.h — simcored's configuration file (YAML). Every key is optional; the
// embedded defaults serve the API on 127.0.0.1:8080 with the data directory ./simcore-data.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/types.h"

namespace simcore::ctl {

// Prices of the account's rate plan (API.md "Billing"), in `currency` units.
struct RatePlan {
  std::string currency = "EUR";
  double fee_per_cycle = 1.00;  // per SIM per billing cycle (a calendar month, UTC)
  double price_per_mb = 0.05;   // per 10^6 bytes, up and down together
  double price_per_sms = 0.02;  // per MT SMS delivered and per MO SMS received
};

// One data-plane port: which DPDK port, and the gateway's address on that side.
struct PortSection {
  std::string port;            // ethdev name, or a vdev to create ("net_pcap0", "net_af_packet0")
  std::string devargs;         // the vdev's arguments ("rx_pcap=in.pcap,tx_pcap=out.pcap")
  core::Ipv4 address;          // ours on this side (access: the GTP-U endpoint)
  uint8_t prefix_length = 24;  // on-link prefix around `address`
  std::optional<core::Ipv4> gateway;  // next hop for off-link destinations
  uint16_t mtu = 1500;
  // Static neighbours (address → MAC "02:00:00:00:00:01"), for peers that do not answer ARP.
  std::vector<std::pair<core::Ipv4, std::array<uint8_t, 6>>> neighbours;
};

// The embedded IKEv2 daemon (charon) on the core port's address. Present: simcored negotiates
// the account's IPsec tunnels.
struct IkeSection {
  uint16_t port = 500;
  uint16_t natt_port = 4500;
  uint16_t peer_port = 500;  // where the peers listen (a lab with several peers on one host)
  int log_level = -1;        // charon's log on stderr: -1 silent .. 4 (very verbose)
  unsigned retransmit_tries = 0;      // 0: strongSwan's default (5)
  double retransmit_timeout_s = 0;    // 0: strongSwan's default (4 s)
  uint32_t child_rekey_seconds = 0;   // 0: an hour
  uint32_t retry_seconds = 10;        // an initiator tunnel left without an IKE_SA retries
  bool force_udp_encap = false;       // ESP in UDP even without a NAT (strongSwan's encap=yes)
};

// The DPDK fast path (DESIGN.md "DPDK on these machines"). Present: simcored runs it.
struct DataplaneConfig {
  unsigned workers = 1;
  std::string lcores = "(0-3)@(0-1)";  // EAL --lcores; the main lcore is simcored's own thread
  unsigned memory_mb = 512;
  bool hugepages = false;
  bool pci = false;
  unsigned idle_sleep_us = 100;  // 0: busy-poll all the time (dedicated cores)
  // Without hugepages: mbufs packed on memory advised for transparent huge pages instead of
  // one per 4 KiB page (dp::EngineConfig::packed_mbufs; README "The engine with its I/O").
  bool packed_mbufs = false;
  // Stateful-firewall flows each worker remembers (dp::EngineConfig::flow_entries): a power of
  // two, 24 bytes each. When the 8 entries a new flow may take all hold live flows, the least
  // recently used is evicted, and replies on it meet the inbound chain again.
  unsigned flows_per_worker = 1u << 16;
  // More EAL arguments, one option per entry (values joined with '='), after simcored's own:
  // e.g. --force-max-simd-bitwidth=512, with which the pipeline measured 1-4% faster (README,
  // "Measurements"). Options simcored sets from the keys above are refused, naming the key.
  std::vector<std::string> eal_args;
  PortSection access;
  PortSection core;
  std::optional<IkeSection> ike;
};

struct DaemonConfig {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 8080;  // 0: an ephemeral port (printed on start)
  std::string data_dir = "simcore-data";
  std::string api_prefix = "/iot/jpu/iotprogrammablesim";
  std::string organization = "simcore";
  // The first admin's client credentials, used on the first start only; empty: generated and
  // printed once.
  std::string admin_client_id;
  std::string admin_client_secret;
  std::string admin_email = "admin@simcore.invalid";
  int64_t token_ttl_s = 3600;
  double rate_limit_per_s = 200;  // per client
  double rate_limit_burst = 400;
  size_t max_body_bytes = 4 << 20;
  size_t max_connections = 1024;
  RatePlan rate_plan;
  int64_t sms_validity_s = 86400;  // an MT SMS not delivered by then is EXPIRED
  std::optional<std::string> tls_cert_file;
  std::optional<std::string> tls_key_file;
  std::optional<DataplaneConfig> dataplane;  // absent: the API only, no packets
  // DNS servers an attach hands to the device (PCO), in order; at most two reach IPCP.
  std::vector<core::Ipv4> dns_servers{core::Ipv4{0x08080808}, core::Ipv4{0x08080404}};
  // Serving-network countries (MCC) where Things may attach: the Netherlands, Belgium and
  // Luxembourg (DESIGN.md "Attach"). A lab replaying foreign captures adds theirs.
  std::vector<uint16_t> served_mccs{204, 206, 270};
};

// Parses a config file; errors name the key ("port: must be 0 to 65535"). Unknown keys are
// errors, so a typo is not silently ignored.
core::Result<DaemonConfig> load_config_file(const std::string& path);
core::Result<DaemonConfig> load_config_text(const std::string& text);

}  // namespace simcore::ctl
