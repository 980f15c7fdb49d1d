/* control/ike/strongswan_config.h — the config.h strongSwan's public headers expect, forced in
 * (-include) ahead of them when the shim is compiled.
 *
 * Debian builds strongSwan with ./configure; its config.h is not shipped. The headers look at
 * few of its defines, and only these change the ABI: ME (--enable-mediation, which Debian
 * turns on: it adds fields to daemon_t, peer_cfg_t and peer_cfg_create_t; without it charon
 * crashes at start) and USE_IKEV1/USE_IKEV2. The rest pick includes and inline helpers. With
 * this file the preprocessed headers are byte-identical to those a minimal
 * `configure --enable-mediation` produces (checked with cc -E -P over daemon.h, kernel_ipsec.h,
 * kernel_net.h, mem_cred.h and plugin_feature.h of 5.9.8). USE_VSTR and USE_BUILTIN_PRINTF
 * must stay undefined: Debian's libstrongswan uses glibc's printf hooks. */
#ifndef SIMCORE_STRONGSWAN_CONFIG_H
#define SIMCORE_STRONGSWAN_CONFIG_H
#define CONFIG_H_INCLUDED
#define ME 1
#define USE_IKEV1 1
#define USE_IKEV2 1
#define HAVE_STDBOOL_H 1
#define HAVE__BOOL 1
#define HAVE_ALLOCA_H 1
#define HAVE_SYS_PARAM_H 1
#define HAVE_INT128 1
#define HAVE_CLOCK_GETTIME 1
#define HAVE_CONDATTR_CLOCK_MONOTONIC 1
#define HAVE_GCC_SYNC_OPERATIONS 1
#define HAVE_EXPLICIT_BZERO 1
#define HAVE_MEMRCHR 1
#define HAVE_FMEMOPEN 1
#define HAVE_CLOSEFROM 1
#define HAVE_SIGWAITINFO 1
#define HAVE_PRINTF_SPECIFIER 1
#define HAVE_QSORT_R 1
#define HAVE_QSORT_R_GNU 1
#define HAVE_DLADDR 1
#define HAVE_IN6ADDR_ANY 1
#define HAVE_IN6_PKTINFO 1
#define HAVE_IPSEC_MODE_BEET 1
#define HAVE_IPSEC_DIR_FWD 1
#endif
