// core/check.h — invariants. SIMCORE_CHECK is for "cannot happen after start-up" and stays in
// release builds (it aborts with the location); SIMCORE_DCHECK is debug-only and may sit on the
// per-packet path. Neither is for bad input: bad input is data, answered with a Result or a
// drop counter.
#pragma once

#include <cstdio>
#include <cstdlib>

#define SIMCORE_CHECK(cond)                                                                 \
  do {                                                                                      \
    if (__builtin_expect(!(cond), 0)) {                                                     \
      std::fprintf(stderr, "%s:%d: SIMCORE_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

#ifdef NDEBUG
#define SIMCORE_DCHECK(cond) \
  do {                       \
  } while (0 && (cond))
#else
#define SIMCORE_DCHECK(cond) SIMCORE_CHECK(cond)
#endif
