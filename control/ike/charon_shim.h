/* control/ike/charon_shim.h — the C boundary between simcored and strongSwan's libcharon.
 *
 * strongSwan's headers do not compile as C++, and linking libcharon makes a binary GPLv2+, so
 * everything that touches strongSwan sits behind this small C API (charon_shim.c); the C++ side
 * (control/ike/ike.h) sees plain structs and callbacks only.
 *
 * What the shim puts in charon, before charon initialises:
 *   - a kernel-ipsec backend that installs nothing in the kernel: every SA add and delete goes to
 *     the callbacks (control compiles them into the fast path's SAD), and query_sa asks the
 *     callbacks for the fast path's counters, so lifetimes and DPD see real traffic;
 *   - a kernel-net backend that owns one address, the core port's;
 *   - a socket that is the punt path: IKE datagrams the fast path punts come in through
 *     simcore_ike_deliver(), and what charon sends goes to the `send` callback, which frames it and
 *     transmits it out of the core port.
 * Connections come from the API's tunnel objects through simcore_ike_set_tunnel(), in process;
 * nothing is read from /etc/strongswan.conf or any file an operator edits.
 *
 * Threads: charon runs its own thread pool, so every callback is called on a charon thread and
 * must only queue. One charon per process (libstrongswan is a process-wide singleton).
 * Addresses are IPv4 in host order throughout. */
#ifndef SIMCORE_CONTROL_IKE_CHARON_SHIM_H
#define SIMCORE_CONTROL_IKE_CHARON_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  SIMCORE_IKE_MAX_KEY = 64,
  SIMCORE_IKE_MAX_SUBNETS = 16,
  SIMCORE_IKE_NAME = 48,
  SIMCORE_IKE_TEXT = 160,
};

typedef struct {
  uint32_t addr;
  uint8_t len;
} simcore_ike_subnet;

/* A CHILD_SA half as charon installs it (kernel-ipsec add_sa). */
typedef struct {
  uint32_t tunnel_id; /* the API's tunnel id (the CHILD_SA's reqid) */
  uint32_t spi;
  uint32_t src, dst;             /* outer addresses */
  uint16_t src_port, dst_port;   /* the UDP ports when encap (ESP-in-UDP, NAT-T) */
  uint8_t inbound, encap, esn, update;
  uint16_t enc_alg, int_alg;     /* IKEv2 transform ids (RFC 7296 §3.3.2) */
  uint16_t enc_key_len, int_key_len;
  uint8_t enc_key[SIMCORE_IKE_MAX_KEY]; /* for AES-GCM the 4-byte salt is the key's tail */
  uint8_t int_key[SIMCORE_IKE_MAX_KEY];
  uint32_t replay_window;
  uint64_t life_bytes_hard, life_packets_hard; /* 0: none */
  char enc_name[SIMCORE_IKE_NAME], int_name[SIMCORE_IKE_NAME];
} simcore_ike_sa;

typedef enum {
  SIMCORE_IKE_EVENT_IKE_STATE,   /* state: ike_sa_state names (CONNECTING, ESTABLISHED, ...) */
  SIMCORE_IKE_EVENT_CHILD_STATE, /* state: child_sa_state names (INSTALLED, DELETING, ...) */
  SIMCORE_IKE_EVENT_IKE_REKEYED,
  SIMCORE_IKE_EVENT_CHILD_REKEYED,
  SIMCORE_IKE_EVENT_ALERT,       /* text: what went wrong, for the tunnel's lastError */
} simcore_ike_event_kind;

typedef struct {
  simcore_ike_event_kind kind;
  uint32_t tunnel_id; /* 0 when charon had not tied the IKE_SA to a tunnel yet: see peer */
  uint32_t peer;      /* the IKE_SA's other host, 0 if none */
  uint32_t ike_unique_id;
  uint64_t spi_i, spi_r; /* IKE SPIs as on the wire (big-endian values) */
  uint32_t child_spi_in, child_spi_out;
  char state[SIMCORE_IKE_NAME];
  char proposal[SIMCORE_IKE_TEXT]; /* the negotiated algorithms, e.g. AES_GCM_16_128/... */
  char text[SIMCORE_IKE_TEXT];
  uint8_t malformed; /* ALERT: an IKE message charon could not parse (header or body) */
} simcore_ike_event;

typedef struct {
  void *ctx;
  /* An IKE datagram charon sends (the payload of UDP src:sport → dst:dport). */
  void (*send)(void *ctx, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
               const uint8_t *data, size_t len);
  void (*sa_added)(void *ctx, const simcore_ike_sa *sa);
  void (*sa_deleted)(void *ctx, uint32_t spi, uint32_t dst);
  /* The fast path's use of an SA; returns 0 if known. last_used: seconds of the monotonic clock
   * (0 never). */
  int (*sa_usage)(void *ctx, uint32_t spi, uint32_t dst, uint64_t *bytes, uint64_t *packets,
                  uint64_t *last_used);
  void (*event)(void *ctx, const simcore_ike_event *event);
} simcore_ike_callbacks;

typedef struct {
  uint32_t local_addr; /* the core port's address: IKE endpoint, ESP outer source, our ID */
  uint16_t port;       /* 500 */
  uint16_t natt_port;  /* 4500 */
  int log_level;       /* charon's default log level on stderr: -1 silent .. 4 */
  unsigned retransmit_tries;   /* 0: strongSwan's default (5) */
  double retransmit_timeout_s; /* 0: strongSwan's default (4 s) */
  int force_udp_encap;         /* ESP in UDP even without a NAT (strongSwan's encap=yes) */
} simcore_ike_options;

/* A tunnel object as a charon connection. Proposals use strongSwan's syntax, comma-separated
 * (e.g. "aes128gcm16-prfsha256-ecp256"); empty means strongSwan's defaults. */
typedef struct {
  uint32_t id;
  uint32_t peer;
  uint16_t peer_port; /* 0: 500 */
  const char *psk;
  const char *ike_proposals;
  const char *esp_proposals;
  simcore_ike_subnet local[SIMCORE_IKE_MAX_SUBNETS];
  size_t local_count;
  simcore_ike_subnet remote[SIMCORE_IKE_MAX_SUBNETS];
  size_t remote_count;
  uint32_t dpd_seconds;          /* 0: no DPD */
  int initiator;                 /* initiate now and after DPD, else wait for the peer */
  uint32_t ike_rekey_seconds;    /* 0: 4 h */
  uint32_t child_rekey_seconds;  /* 0: 1 h */
} simcore_ike_tunnel;

/* Starts charon. Returns 0, or -1 with a reason in err. */
int simcore_ike_start(const simcore_ike_options *options, const simcore_ike_callbacks *callbacks,
                      char *err, size_t err_len);
/* Stops charon (deletes every IKE_SA it can in the time it has). Idempotent. */
void simcore_ike_stop(void);

/* A punted IKE datagram (UDP payload, non-ESP marker included on the NAT-T port). Returns 0 if
 * queued for charon, -1 if dropped (not running, not IKE, queue full). Any thread. */
int simcore_ike_deliver(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                        const uint8_t *data, size_t len);

/* Adds or replaces the connection of tunnel t->id (a replaced one's IKE_SAs are closed first);
 * initiates it when t->initiator. Returns 0, or -1 with the reason in err (a bad proposal). */
int simcore_ike_set_tunnel(const simcore_ike_tunnel *t, char *err, size_t err_len);
/* Initiates the tunnel's connection again (after it failed for good, e.g. a wrong PSK that has
 * since been fixed at the peer). 0 if queued, -1 for an unknown tunnel. */
int simcore_ike_initiate(uint32_t id);
/* Closes the tunnel's IKE_SAs (DELETE to the peer) and forgets the connection. */
void simcore_ike_remove_tunnel(uint32_t id);
/* Rekeys the CHILD_SA whose inbound SPI is spi now (as its lifetime would). 0 if queued. */
int simcore_ike_rekey_child(uint32_t tunnel_id, uint32_t spi_in);

#ifdef __cplusplus
}
#endif

#endif
