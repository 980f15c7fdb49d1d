// core/prefetch.h — a software prefetch the compiler keeps.
// GCC 12.2 at -O2 deleted a __builtin_prefetch wrapped in an inline member function: the
// session index's bulk lookup had no prefetch instruction at all (objdump of engine_bench,
// 2026-11-29). A ten-line file of the same shape loses it too, and keeps it with
// -fno-ipa-modref: the mod-ref analysis takes the function for one without side effects and
// drops the calls. An asm volatile statement is never deleted; DPDK's rte_prefetch0 is one.
#pragma once

namespace simcore::core {

// Starts loading the line holding p into every cache level (PREFETCHT0). Never faults: p may
// point past the end of an array.
inline void prefetch_read(const void* p) noexcept {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

// Starts loading every line of the record at p: its first and its last byte. A record of up
// to a line that is not line-aligned spans two lines at some offsets (a 24-byte session row
// at 2 slots of 8, a 40-byte counter record at 4), and one prefetch of its start left the
// fields past the boundary to miss (2026-11-29: the downlink counters at 1M Things).
template <class T>
inline void prefetch_record(const T* p) noexcept {
  static_assert(sizeof(T) <= 64, "a record of at most a cache line spans at most two");
  const auto* c = reinterpret_cast<const char*>(p);
  prefetch_read(c);
  prefetch_read(c + sizeof(T) - 1);
}

}  // namespace simcore::core
