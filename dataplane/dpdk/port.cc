#include "dataplane/dpdk/port.h"

#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <utility>

namespace simcore::dp {
namespace {

core::Error port_error(const std::string& name, const std::string& what, int rc) {
  return core::Error(core::Code::kUnavailable,
                     "port " + name + ": " + what + ": " + rte_strerror(rc < 0 ? -rc : rc));
}

}  // namespace

core::Result<EthPort> EthPort::open(const PortSpec& spec, uint16_t rx_queues, uint16_t tx_queues,
                                    uint16_t ring_size, rte_mempool* pool) {
  EthPort p;
  p.name_ = spec.name;
  if (rte_eth_dev_get_port_by_name(spec.name.c_str(), &p.id_) != 0) {
    const int rc = rte_eal_hotplug_add("vdev", spec.name.c_str(), spec.devargs.c_str());
    if (rc < 0) return port_error(spec.name, "cannot create vdev (" + spec.devargs + ")", rc);
    p.created_ = true;
  }
  if (rte_eth_dev_get_port_by_name(spec.name.c_str(), &p.id_) != 0) {
    if (p.created_) rte_eal_hotplug_remove("vdev", spec.name.c_str());
    return core::Error(core::Code::kNotFound, "port " + spec.name + ": no such ethdev");
  }
  p.open_ = true;  // from here the destructor cleans up

  rte_eth_dev_info info{};
  int rc = rte_eth_dev_info_get(p.id_, &info);
  if (rc != 0) return port_error(spec.name, "device info", rc);
  p.rxq_ = std::min<uint16_t>(rx_queues, std::max<uint16_t>(info.max_rx_queues, 1));
  p.txq_ = std::min<uint16_t>(tx_queues, std::max<uint16_t>(info.max_tx_queues, 1));

  rte_eth_conf conf{};
  rc = rte_eth_dev_configure(p.id_, p.rxq_, p.txq_, &conf);
  if (rc != 0) return port_error(spec.name, "configure", rc);
  uint16_t rx_desc = ring_size;
  uint16_t tx_desc = ring_size;
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(p.id_, &rx_desc, &tx_desc);
  if (rc != 0) return port_error(spec.name, "descriptor counts", rc);
  const int socket = rte_eth_dev_socket_id(p.id_);
  const unsigned s = socket < 0 ? 0 : static_cast<unsigned>(socket);
  for (uint16_t q = 0; q < p.rxq_; ++q) {
    rc = rte_eth_rx_queue_setup(p.id_, q, rx_desc, s, nullptr, pool);
    if (rc != 0) return port_error(spec.name, "rx queue " + std::to_string(q), rc);
  }
  for (uint16_t q = 0; q < p.txq_; ++q) {
    rc = rte_eth_tx_queue_setup(p.id_, q, tx_desc, s, nullptr);
    if (rc != 0) return port_error(spec.name, "tx queue " + std::to_string(q), rc);
  }
  rc = rte_eth_dev_start(p.id_);
  if (rc != 0) return port_error(spec.name, "start", rc);
  // Not every vdev can be promiscuous (net_ring cannot); that is not an error for a lab port.
  (void)rte_eth_promiscuous_enable(p.id_);
  rte_eth_macaddr_get(p.id_, &p.mac_);
  return p;
}

EthPort::EthPort(EthPort&& o) noexcept
    : id_(o.id_),
      rxq_(o.rxq_),
      txq_(o.txq_),
      mac_(o.mac_),
      name_(std::move(o.name_)),
      created_(std::exchange(o.created_, false)),
      open_(std::exchange(o.open_, false)) {}

EthPort::~EthPort() {
  if (!open_) return;
  (void)rte_eth_dev_stop(id_);
  (void)rte_eth_dev_close(id_);
  if (created_) (void)rte_eal_hotplug_remove("vdev", name_.c_str());
}

core::Result<std::string> make_ring_port(const std::string& name, rte_ring* rx, rte_ring* tx) {
  rte_ring* rxs[1] = {rx};
  rte_ring* txs[1] = {tx};
  const int id = rte_eth_from_rings(name.c_str(), rxs, 1, txs, 1, 0);
  if (id < 0) return port_error(name, "rte_eth_from_rings", rte_errno);
  char ethdev[RTE_ETH_NAME_MAX_LEN];
  if (rte_eth_dev_get_name_by_port(static_cast<uint16_t>(id), ethdev) != 0) {
    return port_error(name, "ethdev name", EINVAL);
  }
  return std::string(ethdev);
}

}  // namespace simcore::dp
