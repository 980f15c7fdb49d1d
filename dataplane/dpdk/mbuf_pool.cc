#include "dataplane/dpdk/mbuf_pool.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>

#include "dataplane/huge_memory.h"

namespace simcore::dp {
namespace {

// The mapping the pool's chunks share: rte_mempool_free frees the chunks one by one, and the
// last one unmaps it all.
struct Mapping {
  void* base;
  size_t bytes;
  unsigned chunks;
};
void release_chunk(rte_mempool_memhdr*, void* opaque) {
  auto* m = static_cast<Mapping*>(opaque);
  if (--m->chunks == 0) {
    munmap(m->base, m->bytes);
    delete m;
  }
}
void own_chunk(rte_mempool*, void* opaque, rte_mempool_memhdr* memhdr, unsigned) {
  memhdr->free_cb = release_chunk;
  memhdr->opaque = opaque;
}

}  // namespace

rte_mempool* create_packed_mbuf_pool(const std::string& name, unsigned n, unsigned cache,
                                     int socket) {
  const unsigned elt = sizeof(rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE;
  // NO_IOVA_CONTIG: objects may cross 4 KiB boundaries (nothing here DMAs to an IOVA).
  rte_mempool* mp =
      rte_mempool_create_empty(name.c_str(), n, elt, cache, sizeof(rte_pktmbuf_pool_private),
                               socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);
  if (mp == nullptr) return nullptr;
  auto fail = [mp](int err) -> rte_mempool* {
    rte_mempool_free(mp);
    rte_errno = err;
    return nullptr;
  };
  if (rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr) != 0) {
    return fail(EINVAL);
  }
  rte_pktmbuf_pool_private priv{};
  priv.mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE;
  priv.mbuf_priv_size = 0;
  rte_pktmbuf_pool_init(mp, &priv);

  rte_mempool_objsz sz{};
  const size_t obj = rte_mempool_calc_obj_size(elt, mp->flags, &sz);
  const size_t bytes = (size_t{n} * obj + kHugePage - 1) / kHugePage * kHugePage;
  auto* mem = static_cast<char*>(map_huge(bytes));
  if (mem == nullptr) return fail(ENOMEM);
  // The chunks take over the mapping only once all is well: until then it is ours to unmap.
  const int added = rte_mempool_populate_iova(mp, mem, RTE_BAD_IOVA, bytes, nullptr, nullptr);
  if (added < 0 || mp->populated_size != n) {
    rte_mempool_free(mp);
    munmap(mem, bytes);
    rte_errno = added < 0 ? -added : ENOMEM;
    return nullptr;
  }
  rte_mempool_mem_iter(mp, own_chunk, new Mapping{mem, bytes, mp->nb_mem_chunks});
  rte_mempool_obj_iter(mp, rte_pktmbuf_init, nullptr);
  return mp;
}

}  // namespace simcore::dp
