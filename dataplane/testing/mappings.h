// dataplane/testing/mappings.h — what the kernel says about this process's memory, for tests of
// where memory lives (huge-page advice, unmapping).
#pragma once

#include <string>

namespace simcore::dp::testing {

// Returns the VmFlags line of the mapping that holds `p` (in /proc/self/smaps), or "" when none
// does. "hg" in it: madvise(MADV_HUGEPAGE) holds for the mapping.
std::string vm_flags_of(const void* p);

// Returns whether the page holding `p` is mapped.
bool mapped(const void* p);

}  // namespace simcore::dp::testing
