// dataplane/dpdk/port.h — one DPDK ethdev as a simcore port: opened by name or created from
// vdev devargs (net_pcap, net_ring, net_af_packet, net_null, or a real NIC already probed),
// configured with one rx and one tx queue per worker where the driver has them, started, and
// closed again. Control thread only.
#pragma once

#include <rte_ether.h>
#include <rte_mempool.h>

#include <cstdint>
#include <string>

#include "core/result.h"

struct rte_ring;

namespace simcore::dp {

struct PortSpec {
  // An existing ethdev name (a probed NIC "0000:03:00.0", or a port made by make_ring_port),
  // or else the name of a vdev to create: "net_pcap0", "net_af_packet0", "net_null0".
  std::string name;
  // The vdev's arguments: "rx_pcap=in.pcap,tx_pcap=out.pcap", "iface=veth0".
  std::string devargs;
};

class EthPort {
 public:
  // Opens (creating the vdev if the spec says so) and configures the port with up to `rx_queues`
  // and `tx_queues` queues — fewer when the driver has fewer (net_pcap has one of each) — of
  // `ring_size` descriptors, receiving into `pool`, and starts it. Promiscuous where supported:
  // a lab port sees frames for our addresses whatever MAC the sender used.
  static core::Result<EthPort> open(const PortSpec& spec, uint16_t rx_queues, uint16_t tx_queues,
                                    uint16_t ring_size, rte_mempool* pool);
  EthPort(EthPort&& o) noexcept;
  EthPort& operator=(EthPort&&) = delete;
  EthPort(const EthPort&) = delete;
  ~EthPort();  // stops and closes; removes a vdev this object created

  uint16_t id() const noexcept { return id_; }
  uint16_t rx_queues() const noexcept { return rxq_; }
  uint16_t tx_queues() const noexcept { return txq_; }
  const rte_ether_addr& mac() const noexcept { return mac_; }
  const std::string& name() const noexcept { return name_; }

 private:
  EthPort() = default;
  uint16_t id_ = 0;
  uint16_t rxq_ = 0;
  uint16_t txq_ = 0;
  rte_ether_addr mac_{};
  std::string name_;
  bool created_ = false;
  bool open_ = false;
};

// Makes an ethdev whose rx reads `rx` and whose tx writes `tx` (net_ring): the in-process port
// of tests and pcap-free replays. Returns its ethdev name (for PortSpec::name). The rings stay
// the caller's; closing the port (EthPort) frees the ethdev.
core::Result<std::string> make_ring_port(const std::string& name, rte_ring* rx, rte_ring* tx);

}  // namespace simcore::dp
