// core/table_lookup.h — the same pipeline as the reference evaluator, run on CompiledTables
// with their indexes: hash lookups for sessions, binary search for NAT, linear first-match
// over normalised chains. It is the portable (non-DPDK) fast path, checked against the
// reference evaluator by property tests; the DPDK stages replace its table walks with rte_acl
// and rte_lpm but keep its order of stages. Any thread on a published snapshot; no allocation
// except in `flows` (which belongs to the caller).
#pragma once

#include "core/flow_memory.h"
#include "core/tables.h"
#include "core/verdict.h"

namespace simcore::core {

Decision lookup_packet(const CompiledTables& t, const PacketDesc& p, FlowMemory& flows);

// Returns the port-forwarding rule for a packet to public ip:port, or nullptr (downlink).
const NatRow* find_nat_in(const CompiledTables& t, Ipv4Be ip, uint8_t proto, PortBe port) noexcept;
// Returns the rule whose Thing side is ip:port, or nullptr (uplink source rewrite).
const NatRow* find_nat_out(const CompiledTables& t, Ipv4Be ip, uint8_t proto, PortBe port) noexcept;

// Returns the index of the first rule of `chain` matching, or -1. Host-order arguments.
int lookup_chain(const CompiledChain& chain, uint8_t proto, uint32_t remote_addr,
                 uint16_t remote_port, uint16_t local_port) noexcept;

}  // namespace simcore::core
