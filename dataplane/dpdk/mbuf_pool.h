// dataplane/dpdk/mbuf_pool.h — a packed mbuf pool for machines without hugepages, an opt-in
// (EngineConfig::packed_mbufs). Without hugepages the stock pool (rte_pktmbuf_pool_create on
// EAL's --no-huge heap, a memfd) keeps every 2.4 KiB mbuf inside a 4 KiB page of its own, all
// at the same offset, on 4 KiB pages (shmem gets no transparent huge pages on these machines):
// mbuf headers crowd the same cache sets and nearly every mbuf is a TLB miss. This one packs
// the mbufs back to back in anonymous memory advised for transparent huge pages, as a hugepage
// pool lays them out. Measured on 2026-11-27 (engine_bench, 64 B, 100k sessions, 3 alternating
// rounds): the bare rx/tx loop 37–41 → 84–89 Mpps, the pipeline 443–456 → 400–416 cycles/packet
// uplink and 367–373 → 307–342 downlink; but ESP through the engine at 1400 B 27% → 24% of raw
// AES-GCM, for reasons not found (one mbuf per 4 KiB at staggered offsets, which never crosses
// a 4 KiB boundary, lost as much). Hence not the default.
#pragma once

#include <string>

struct rte_mempool;

namespace simcore::dp {

// Returns a pool of `n` mbufs with RTE_MBUF_DEFAULT_BUF_SIZE data rooms and a per-lcore cache of
// `cache`, packed on memory advised for huge pages, or nullptr with rte_errno set. The mbufs
// have no IOVA (RTE_BAD_IOVA): for vdevs and CPU crypto only, never a NIC's DMA. Free it with
// rte_mempool_free, which unmaps the memory. Control thread, after eal_init.
rte_mempool* create_packed_mbuf_pool(const std::string& name, unsigned n, unsigned cache,
                                     int socket);

}  // namespace simcore::dp
