/* control/ike/charon_shim.c — strongSwan libcharon embedded: our kernel backends, our socket, the
 * tunnels as connections, charon's events as callbacks. See charon_shim.h for the contract.
 * Compiled as C against the headers of the installed strongSwan release (scripts/bootstrap) with
 * strongswan_config.h forced in first. */
#define _GNU_SOURCE /* pipe2 */
#include "control/ike/charon_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <daemon.h>
#include <library.h>
#include <collections/linked_list.h>
#include <credentials/sets/mem_cred.h>
#include <kernel/kernel_ipsec.h>
#include <kernel/kernel_net.h>
#include <network/socket.h>
#include <plugins/plugin_feature.h>
#include <processing/jobs/callback_job.h>
#include <processing/jobs/rekey_child_sa_job.h>
#include <threading/rwlock.h>
#include <threading/thread.h>

static simcore_ike_callbacks cb;
static simcore_ike_options opt;
static int running;

/* ---- helpers ------------------------------------------------------------------------------ */

static host_t *host_v4(uint32_t addr, uint16_t port)
{
	uint8_t b[4] = {addr >> 24, addr >> 16, addr >> 8, addr};
	return host_create_from_chunk(AF_INET, chunk_create(b, 4), port);
}

/* 0 unless h is IPv4. */
static uint32_t v4_of(host_t *h)
{
	chunk_t a;

	if (!h || h->get_family(h) != AF_INET)
	{
		return 0;
	}
	a = h->get_address(h);
	return a.len == 4 ? ((uint32_t)a.ptr[0] << 24 | a.ptr[1] << 16 | a.ptr[2] << 8 | a.ptr[3]) : 0;
}

static void set_err(char *err, size_t len, const char *fmt, const char *arg)
{
	if (err && len)
	{
		snprintf(err, len, fmt, arg);
	}
}

/* Connections are named after their tunnel: "simcore-<id>". */
static uint32_t tunnel_of_name(const char *name)
{
	unsigned long id = 0;

	if (name && sscanf(name, "simcore-%lu", &id) == 1)
	{
		return (uint32_t)id;
	}
	return 0;
}

static uint32_t tunnel_of_ike(ike_sa_t *ike_sa)
{
	peer_cfg_t *peer = ike_sa ? ike_sa->get_peer_cfg(ike_sa) : NULL;

	return peer ? tunnel_of_name(peer->get_name(peer)) : 0;
}

static void event_init(simcore_ike_event *e, simcore_ike_event_kind kind, ike_sa_t *ike_sa)
{
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	if (ike_sa)
	{
		ike_sa_id_t *id = ike_sa->get_id(ike_sa);
		proposal_t *p = ike_sa->get_proposal(ike_sa);

		e->tunnel_id = tunnel_of_ike(ike_sa);
		e->peer = v4_of(ike_sa->get_other_host(ike_sa));
		e->ike_unique_id = ike_sa->get_unique_id(ike_sa);
		e->spi_i = be64toh(id->get_initiator_spi(id));
		e->spi_r = be64toh(id->get_responder_spi(id));
		if (p)
		{
			snprintf(e->proposal, sizeof(e->proposal), "%P", p);
		}
	}
}

/* ---- kernel-ipsec: SAs go to control, nothing to the kernel ------------------------------- */

static kernel_feature_t ipsec_features(kernel_ipsec_t *this)
{
	return KERNEL_ESP_V3_TFC;
}

static status_t ipsec_get_spi(kernel_ipsec_t *this, host_t *src, host_t *dst, uint8_t protocol,
							  uint32_t *spi)
{
	uint32_t s = 0;
	rng_t *rng = lib->crypto->create_rng(lib->crypto, RNG_WEAK);

	if (!rng || !rng->get_bytes(rng, sizeof(s), (uint8_t*)&s))
	{
		DESTROY_IF(rng);
		return FAILED;
	}
	rng->destroy(rng);
	/* 0xc0000000.. as the kernel's default range: below 256 is reserved (RFC 4303 §2.1) */
	*spi = htonl(0xc0000000 | (s & 0x0fffffff));
	return SUCCESS;
}

static status_t ipsec_get_cpi(kernel_ipsec_t *this, host_t *src, host_t *dst, uint16_t *cpi)
{
	return NOT_SUPPORTED;
}

static void copy_key(uint8_t *to, uint16_t *to_len, chunk_t key)
{
	*to_len = key.len <= SIMCORE_IKE_MAX_KEY ? key.len : 0;
	memcpy(to, key.ptr, *to_len);
}

/* An SA's lifetime as a kernel would enforce it: charon rekeys a CHILD_SA when the kernel
 * reports the soft expiry and deletes it at the hard one (as libipsec does for kernel-libipsec).
 * The fast path does not count time, so these are scheduled here, for inbound SAs (charon finds
 * the CHILD_SA by either SPI; one report per CHILD_SA). A report about an SA already gone (it
 * was rekeyed earlier) finds nothing and is ignored by charon. */
typedef struct {
	uint32_t spi; /* network order */
	host_t *dst;
	bool hard;
} expiry_t;

static job_requeue_t expiry_fire(void *data)
{
	expiry_t *e = data;

	charon->kernel->expire(charon->kernel, IPPROTO_ESP, e->spi, e->dst, e->hard);
	return JOB_REQUEUE_NONE;
}

static void expiry_destroy(void *data)
{
	expiry_t *e = data;

	e->dst->destroy(e->dst);
	free(e);
}

static void schedule_expiry(uint32_t spi, host_t *dst, bool hard, uint64_t seconds)
{
	expiry_t *e;

	if (!seconds)
	{
		return;
	}
	INIT(e,
		.spi = spi,
		.dst = dst->clone(dst),
		.hard = hard,
	);
	lib->scheduler->schedule_job(lib->scheduler,
		(job_t*)callback_job_create(expiry_fire, e, expiry_destroy, NULL), (uint32_t)seconds);
}

static status_t ipsec_add_sa(kernel_ipsec_t *this, kernel_ipsec_sa_id_t *id,
							 kernel_ipsec_add_sa_t *d)
{
	simcore_ike_sa sa;

	if (id->proto != IPPROTO_ESP || d->mode != MODE_TUNNEL || !v4_of(id->src) ||
		d->enc_key.len > SIMCORE_IKE_MAX_KEY || d->int_key.len > SIMCORE_IKE_MAX_KEY)
	{
		DBG1(DBG_KNL, "simcore: only IPv4 ESP tunnel mode is offloaded, SA %.8x refused",
			 ntohl(id->spi));
		return NOT_SUPPORTED;
	}
	memset(&sa, 0, sizeof(sa));
	sa.tunnel_id = d->reqid;
	sa.spi = ntohl(id->spi);
	sa.src = v4_of(id->src);
	sa.dst = v4_of(id->dst);
	sa.src_port = id->src->get_port(id->src);
	sa.dst_port = id->dst->get_port(id->dst);
	sa.inbound = d->inbound;
	sa.encap = d->encap;
	sa.esn = d->esn;
	sa.update = d->update;
	sa.enc_alg = d->enc_alg;
	sa.int_alg = d->int_alg;
	copy_key(sa.enc_key, &sa.enc_key_len, d->enc_key);
	copy_key(sa.int_key, &sa.int_key_len, d->int_key);
	sa.replay_window = d->replay_window;
	if (d->lifetime)
	{
		sa.life_bytes_hard = d->lifetime->bytes.life;
		sa.life_packets_hard = d->lifetime->packets.life;
	}
	snprintf(sa.enc_name, sizeof(sa.enc_name), "%N", encryption_algorithm_names, d->enc_alg);
	if (d->int_alg != AUTH_UNDEFINED)
	{
		snprintf(sa.int_name, sizeof(sa.int_name), "%N", integrity_algorithm_names, d->int_alg);
	}
	cb.sa_added(cb.ctx, &sa);
	memwipe(&sa, sizeof(sa));
	if (d->inbound && d->lifetime)
	{
		schedule_expiry(id->spi, id->dst, FALSE, d->lifetime->time.rekey);
		schedule_expiry(id->spi, id->dst, TRUE, d->lifetime->time.life);
	}
	return SUCCESS;
}

static status_t ipsec_update_sa(kernel_ipsec_t *this, kernel_ipsec_sa_id_t *id,
								kernel_ipsec_update_sa_t *d)
{
	/* MOBIKE address changes: we disable MOBIKE, so nothing moves */
	return NOT_SUPPORTED;
}

static status_t ipsec_query_sa(kernel_ipsec_t *this, kernel_ipsec_sa_id_t *id,
							   kernel_ipsec_query_sa_t *d, uint64_t *bytes, uint64_t *packets,
							   time_t *time)
{
	uint64_t b = 0, p = 0, t = 0;

	if (cb.sa_usage(cb.ctx, ntohl(id->spi), v4_of(id->dst), &b, &p, &t) != 0)
	{
		return NOT_FOUND;
	}
	if (bytes)
	{
		*bytes = b;
	}
	if (packets)
	{
		*packets = p;
	}
	if (time)
	{
		*time = (time_t)t;
	}
	return SUCCESS;
}

static status_t ipsec_del_sa(kernel_ipsec_t *this, kernel_ipsec_sa_id_t *id,
							 kernel_ipsec_del_sa_t *d)
{
	cb.sa_deleted(cb.ctx, ntohl(id->spi), v4_of(id->dst));
	return SUCCESS;
}

static status_t ipsec_flush_sas(kernel_ipsec_t *this)
{
	return SUCCESS;
}

/* Policies: the fast path's SPD is compiled from the network's routes to the tunnel, so charon's
 * policies have nothing to add. */
static status_t ipsec_add_policy(kernel_ipsec_t *this, kernel_ipsec_policy_id_t *id,
								 kernel_ipsec_manage_policy_t *d)
{
	return SUCCESS;
}

static status_t ipsec_query_policy(kernel_ipsec_t *this, kernel_ipsec_policy_id_t *id,
								   kernel_ipsec_query_policy_t *d, time_t *use_time)
{
	return NOT_SUPPORTED;
}

static status_t ipsec_del_policy(kernel_ipsec_t *this, kernel_ipsec_policy_id_t *id,
								 kernel_ipsec_manage_policy_t *d)
{
	return SUCCESS;
}

static status_t ipsec_flush_policies(kernel_ipsec_t *this)
{
	return SUCCESS;
}

static bool ipsec_bypass_socket(kernel_ipsec_t *this, int fd, int family)
{
	return TRUE;
}

static bool ipsec_enable_udp_decap(kernel_ipsec_t *this, int fd, int family, uint16_t port)
{
	return TRUE;
}

static void ipsec_destroy(kernel_ipsec_t *this)
{
	free(this);
}

static kernel_ipsec_t *simcore_kernel_ipsec_create(void)
{
	kernel_ipsec_t *this;

	INIT(this,
		.get_features = ipsec_features,
		.get_spi = ipsec_get_spi,
		.get_cpi = ipsec_get_cpi,
		.add_sa = ipsec_add_sa,
		.update_sa = ipsec_update_sa,
		.query_sa = ipsec_query_sa,
		.del_sa = ipsec_del_sa,
		.flush_sas = ipsec_flush_sas,
		.add_policy = ipsec_add_policy,
		.query_policy = ipsec_query_policy,
		.del_policy = ipsec_del_policy,
		.flush_policies = ipsec_flush_policies,
		.bypass_socket = ipsec_bypass_socket,
		.enable_udp_decap = ipsec_enable_udp_decap,
		.destroy = ipsec_destroy,
	);
	return this;
}

/* ---- kernel-net: one address, the core port's --------------------------------------------- */

static kernel_feature_t net_features(kernel_net_t *this)
{
	return 0;
}

static host_t *net_get_source_addr(kernel_net_t *this, host_t *dest, host_t *src)
{
	if (src)
	{
		return v4_of(src) == opt.local_addr ? src->clone(src) : NULL;
	}
	return dest && dest->get_family(dest) == AF_INET ? host_v4(opt.local_addr, 0) : NULL;
}

static host_t *net_get_nexthop(kernel_net_t *this, host_t *dest, int prefix, host_t *src,
							   char **iface)
{
	if (iface)
	{
		*iface = NULL;
	}
	return NULL;
}

static bool net_get_interface(kernel_net_t *this, host_t *host, char **name)
{
	if (v4_of(host) != opt.local_addr)
	{
		return FALSE;
	}
	if (name)
	{
		*name = strdup("core");
	}
	return TRUE;
}

static void host_destroy_cb(void *host)
{
	((host_t*)host)->destroy((host_t*)host);
}

static enumerator_t *net_addresses(kernel_net_t *this, kernel_address_type_t which)
{
	return enumerator_create_single(host_v4(opt.local_addr, 0), host_destroy_cb);
}

static enumerator_t *net_local_subnets(kernel_net_t *this)
{
	return enumerator_create_empty();
}

static status_t net_add_ip(kernel_net_t *this, host_t *vip, int prefix, char *iface)
{
	return NOT_SUPPORTED;
}

static status_t net_del_ip(kernel_net_t *this, host_t *vip, int prefix, bool wait)
{
	return NOT_SUPPORTED;
}

static status_t net_route(kernel_net_t *this, chunk_t dst_net, uint8_t prefixlen, host_t *gateway,
						  host_t *src_ip, char *if_name, bool pass)
{
	return SUCCESS;
}

static void net_destroy(kernel_net_t *this)
{
	free(this);
}

static kernel_net_t *simcore_kernel_net_create(void)
{
	kernel_net_t *this;

	INIT(this,
		.get_features = net_features,
		.get_source_addr = net_get_source_addr,
		.get_nexthop = net_get_nexthop,
		.get_interface = net_get_interface,
		.create_address_enumerator = net_addresses,
		.create_local_subnet_enumerator = net_local_subnets,
		.add_ip = net_add_ip,
		.del_ip = net_del_ip,
		.add_route = net_route,
		.del_route = net_route,
		.destroy = net_destroy,
	);
	return this;
}

/* ---- socket: the punt path ---------------------------------------------------------------- */

/* Punted datagrams reach charon's receiver thread through a pipe of packet_t pointers: a write
 * of one pointer is atomic, read() is a cancellation point (charon cancels its receiver at
 * shutdown), and a full pipe drops instead of blocking the control thread. */
static int punt_pipe[2] = {-1, -1};

static status_t sock_receive(socket_t *this, packet_t **out)
{
	packet_t *packet = NULL;
	ssize_t n;
	bool old;

	for (;;)
	{
		old = thread_cancelability(TRUE);
		n = read(punt_pipe[0], &packet, sizeof(packet));
		thread_cancelability(old);
		if (n == sizeof(packet))
		{
			*out = packet;
			return SUCCESS;
		}
		if (n < 0 && errno == EINTR)
		{
			continue;
		}
		return FAILED;
	}
}

static status_t sock_send(socket_t *this, packet_t *packet)
{
	host_t *src = packet->get_source(packet), *dst = packet->get_destination(packet);
	chunk_t data = packet->get_data(packet);

	if (!v4_of(dst))
	{
		return FAILED;
	}
	/* As is: on the NAT-T port charon's sender has already put the non-ESP marker in front
	 * (RFC 3948 §2.2), as its receiver expects it on what we deliver. */
	cb.send(cb.ctx, opt.local_addr, src->get_port(src), v4_of(dst), dst->get_port(dst), data.ptr,
			data.len);
	return SUCCESS;
}

static uint16_t sock_get_port(socket_t *this, bool nat_t)
{
	return nat_t ? opt.natt_port : opt.port;
}

static socket_family_t sock_families(socket_t *this)
{
	return SOCKET_FAMILY_IPV4;
}

static void sock_destroy(socket_t *this)
{
	free(this);
}

static socket_t *simcore_socket_create(void)
{
	socket_t *this;

	INIT(this,
		.receive = sock_receive,
		.send = sock_send,
		.get_port = sock_get_port,
		.supported_families = sock_families,
		.destroy = sock_destroy,
	);
	return this;
}

int simcore_ike_deliver(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
						const uint8_t *data, size_t len)
{
	packet_t *packet;

	if (!running || dst != opt.local_addr || (dport != opt.port && dport != opt.natt_port))
	{
		return -1;
	}
	if (dport == opt.natt_port)
	{
		/* a non-zero first word is an ESP SPI (ESP-in-UDP), which is the fast path's; the
		 * zero marker stays: charon's receiver removes it */
		static const uint8_t marker[4];

		if (len < 4 || memcmp(data, marker, 4) != 0)
		{
			return -1;
		}
	}
	if (len == 0)
	{
		return -1;
	}
	packet = packet_create_from_data(host_v4(src, sport), host_v4(dst, dport),
									 chunk_clone(chunk_create((u_char*)data, len)));
	if (write(punt_pipe[1], &packet, sizeof(packet)) != sizeof(packet))
	{
		packet->destroy(packet);
		return -1;
	}
	return 0;
}

/* ---- connections: an in-memory backend of tunnels ----------------------------------------- */

typedef struct {
	backend_t public;
	linked_list_t *peers; /* peer_cfg_t, named simcore-<id> */
	rwlock_t *lock;
} tunnels_t;

static tunnels_t *tunnels;
static mem_cred_t *creds;

static void unlock_read(void *lock)
{
	((rwlock_t*)lock)->unlock((rwlock_t*)lock);
}

static bool peer_to_ike(void *data, enumerator_t *orig, va_list args)
{
	peer_cfg_t *peer;
	ike_cfg_t **out;

	VA_ARGS_VGET(args, out);
	if (orig->enumerate(orig, &peer))
	{
		*out = peer->get_ike_cfg(peer);
		return TRUE;
	}
	return FALSE;
}

static enumerator_t *tunnels_ike_cfgs(backend_t *this, host_t *me, host_t *other)
{
	tunnels->lock->read_lock(tunnels->lock);
	return enumerator_create_cleaner(
		enumerator_create_filter(tunnels->peers->create_enumerator(tunnels->peers), peer_to_ike,
								 NULL, NULL),
		unlock_read, tunnels->lock);
}

static enumerator_t *tunnels_peer_cfgs(backend_t *this, identification_t *me,
									   identification_t *other)
{
	tunnels->lock->read_lock(tunnels->lock);
	return enumerator_create_cleaner(tunnels->peers->create_enumerator(tunnels->peers),
									 unlock_read, tunnels->lock);
}

static peer_cfg_t *tunnels_by_name(backend_t *this, char *name)
{
	enumerator_t *e;
	peer_cfg_t *peer, *found = NULL;

	tunnels->lock->read_lock(tunnels->lock);
	e = tunnels->peers->create_enumerator(tunnels->peers);
	while (e->enumerate(e, &peer))
	{
		if (streq(peer->get_name(peer), name))
		{
			found = peer->get_ref(peer);
			break;
		}
	}
	e->destroy(e);
	tunnels->lock->unlock(tunnels->lock);
	return found;
}

/* Takes the tunnel's connection out of the backend; returns it (a reference) or NULL. */
static peer_cfg_t *take_tunnel(uint32_t id)
{
	char name[32];
	enumerator_t *e;
	peer_cfg_t *peer, *found = NULL;

	snprintf(name, sizeof(name), "simcore-%u", id);
	tunnels->lock->write_lock(tunnels->lock);
	e = tunnels->peers->create_enumerator(tunnels->peers);
	while (e->enumerate(e, &peer))
	{
		if (streq(peer->get_name(peer), name))
		{
			tunnels->peers->remove_at(tunnels->peers, e);
			found = peer;
			break;
		}
	}
	e->destroy(e);
	tunnels->lock->unlock(tunnels->lock);
	return found;
}

/* Deletes the IKE_SAs of connection `name` (DELETE to the peer), without waiting. */
static void close_ike_sas(const char *name)
{
	enumerator_t *e;
	ike_sa_t *ike_sa;
	linked_list_t *ids = linked_list_create();
	uintptr_t id;

	e = charon->controller->create_ike_sa_enumerator(charon->controller, TRUE);
	while (e->enumerate(e, &ike_sa))
	{
		peer_cfg_t *peer = ike_sa->get_peer_cfg(ike_sa);

		if (peer && streq(peer->get_name(peer), name))
		{
			ids->insert_last(ids, (void*)(uintptr_t)ike_sa->get_unique_id(ike_sa));
		}
	}
	e->destroy(e);
	while (ids->remove_first(ids, (void**)&id) == SUCCESS)
	{
		charon->controller->terminate_ike(charon->controller, (uint32_t)id, FALSE, NULL, NULL, 0);
	}
	ids->destroy(ids);
}

static bool add_proposals(const char *list, protocol_id_t proto, void *cfg, char *err,
						  size_t err_len)
{
	char *copy, *token, *save = NULL;
	bool any = FALSE;

	if (list && *list)
	{
		copy = strdup(list);
		for (token = strtok_r(copy, ", ", &save); token; token = strtok_r(NULL, ", ", &save))
		{
			proposal_t *p = proposal_create_from_string(proto, token);

			if (!p)
			{
				set_err(err, err_len, "invalid proposal '%s'", token);
				free(copy);
				return FALSE;
			}
			if (proto == PROTO_IKE)
			{
				((ike_cfg_t*)cfg)->add_proposal(cfg, p);
			}
			else
			{
				((child_cfg_t*)cfg)->add_proposal(cfg, p);
			}
			any = TRUE;
		}
		free(copy);
	}
	if (!any)
	{
		if (proto == PROTO_IKE)
		{
			((ike_cfg_t*)cfg)->add_proposal(cfg, proposal_create_default(PROTO_IKE));
			((ike_cfg_t*)cfg)->add_proposal(cfg, proposal_create_default_aead(PROTO_IKE));
		}
		else
		{
			((child_cfg_t*)cfg)->add_proposal(cfg, proposal_create_default_aead(PROTO_ESP));
			((child_cfg_t*)cfg)->add_proposal(cfg, proposal_create_default(PROTO_ESP));
		}
	}
	return TRUE;
}

static identification_t *id_v4(uint32_t addr)
{
	uint8_t b[4] = {addr >> 24, addr >> 16, addr >> 8, addr};

	return identification_create_from_encoding(ID_IPV4_ADDR, chunk_create(b, 4));
}

static traffic_selector_t *ts_of(const simcore_ike_subnet *s)
{
	uint8_t b[4] = {s->addr >> 24, s->addr >> 16, s->addr >> 8, s->addr};

	return traffic_selector_create_from_subnet(host_create_from_chunk(AF_INET, chunk_create(b, 4),
																	  0),
											   s->len, 0, 0, 65535);
}

int simcore_ike_set_tunnel(const simcore_ike_tunnel *t, char *err, size_t err_len)
{
	char name[32], local[16], remote[16];
	ike_cfg_t *ike_cfg;
	peer_cfg_t *peer_cfg, *old;
	child_cfg_t *child_cfg;
	auth_cfg_t *auth;
	size_t i;
	uint32_t ike_rekey = t->ike_rekey_seconds ? t->ike_rekey_seconds : 4 * 3600;
	uint32_t child_rekey = t->child_rekey_seconds ? t->child_rekey_seconds : 3600;

	if (!running)
	{
		set_err(err, err_len, "%s", "IKE is not running");
		return -1;
	}
	snprintf(name, sizeof(name), "simcore-%u", t->id);
	snprintf(local, sizeof(local), "%u.%u.%u.%u", opt.local_addr >> 24, (opt.local_addr >> 16) & 255,
			 (opt.local_addr >> 8) & 255, opt.local_addr & 255);
	snprintf(remote, sizeof(remote), "%u.%u.%u.%u", t->peer >> 24, (t->peer >> 16) & 255,
			 (t->peer >> 8) & 255, t->peer & 255);

	ike_cfg_create_t ike = {
		.version = IKEV2,
		.local = local,
		.local_port = opt.port,
		.remote = remote,
		.remote_port = t->peer_port ? t->peer_port : IKEV2_UDP_PORT,
		.no_certreq = TRUE,
		.force_encap = opt.force_udp_encap != 0,
		.fragmentation = FRAGMENTATION_YES,
	};
	ike_cfg = ike_cfg_create(&ike);
	if (!add_proposals(t->ike_proposals, PROTO_IKE, ike_cfg, err, err_len))
	{
		ike_cfg->destroy(ike_cfg);
		return -1;
	}
	peer_cfg_create_t peer = {
		.cert_policy = CERT_NEVER_SEND,
		.unique = UNIQUE_REPLACE,
		.keyingtries = t->initiator ? 0 : 1, /* an initiator keeps trying, like auto=start */
		.rekey_time = ike_rekey,
		.jitter_time = ike_rekey / 10,
		.over_time = ike_rekey / 10,
		.no_mobike = TRUE,
		.dpd = t->dpd_seconds,
	};
	peer_cfg = peer_cfg_create(name, ike_cfg, &peer);
	auth = auth_cfg_create();
	auth->add(auth, AUTH_RULE_AUTH_CLASS, AUTH_CLASS_PSK);
	auth->add(auth, AUTH_RULE_IDENTITY, id_v4(opt.local_addr));
	peer_cfg->add_auth_cfg(peer_cfg, auth, TRUE);
	auth = auth_cfg_create();
	auth->add(auth, AUTH_RULE_AUTH_CLASS, AUTH_CLASS_PSK);
	auth->add(auth, AUTH_RULE_IDENTITY, id_v4(t->peer));
	peer_cfg->add_auth_cfg(peer_cfg, auth, FALSE);

	child_cfg_create_t child = {
		/* a static reqid ties every SA charon installs to its tunnel */
		.reqid = t->id,
		.mode = MODE_TUNNEL,
		.lifetime = {
			.time = {.life = child_rekey + child_rekey / 10, .rekey = child_rekey,
					 .jitter = child_rekey / 20},
		},
		.dpd_action = t->initiator ? ACTION_START : ACTION_NONE,
		.close_action = t->initiator ? ACTION_START : ACTION_NONE,
	};
	child_cfg = child_cfg_create(name, &child);
	if (!add_proposals(t->esp_proposals, PROTO_ESP, child_cfg, err, err_len))
	{
		child_cfg->destroy(child_cfg);
		peer_cfg->destroy(peer_cfg);
		return -1;
	}
	for (i = 0; i < t->local_count && i < SIMCORE_IKE_MAX_SUBNETS; i++)
	{
		child_cfg->add_traffic_selector(child_cfg, TRUE, ts_of(&t->local[i]));
	}
	for (i = 0; i < t->remote_count && i < SIMCORE_IKE_MAX_SUBNETS; i++)
	{
		child_cfg->add_traffic_selector(child_cfg, FALSE, ts_of(&t->remote[i]));
	}
	peer_cfg->add_child_cfg(peer_cfg, child_cfg->get_ref(child_cfg));

	old = take_tunnel(t->id);
	if (old)
	{
		close_ike_sas(name);
		old->destroy(old);
	}
	creds->add_shared_unique(creds, name,
		shared_key_create(SHARED_IKE, chunk_clone(chunk_from_str((char*)t->psk))),
		linked_list_create_with_items(id_v4(opt.local_addr), id_v4(t->peer), NULL));
	tunnels->lock->write_lock(tunnels->lock);
	tunnels->peers->insert_last(tunnels->peers, peer_cfg->get_ref(peer_cfg));
	tunnels->lock->unlock(tunnels->lock);

	if (t->initiator)
	{
		/* no callback: queued, and this returns at once */
		charon->controller->initiate(charon->controller, peer_cfg, child_cfg, NULL, NULL, 0,
									 FALSE);
	}
	else
	{
		child_cfg->destroy(child_cfg);
		peer_cfg->destroy(peer_cfg);
	}
	return 0;
}

int simcore_ike_initiate(uint32_t id)
{
	char name[32];
	peer_cfg_t *peer;
	child_cfg_t *child = NULL;
	enumerator_t *e;

	if (!running)
	{
		return -1;
	}
	snprintf(name, sizeof(name), "simcore-%u", id);
	peer = tunnels_by_name(&tunnels->public, name);
	if (!peer)
	{
		return -1;
	}
	e = peer->create_child_cfg_enumerator(peer);
	if (e->enumerate(e, &child))
	{
		child->get_ref(child);
	}
	e->destroy(e);
	/* adopts both references */
	charon->controller->initiate(charon->controller, peer, child, NULL, NULL, 0, FALSE);
	return 0;
}

void simcore_ike_remove_tunnel(uint32_t id)
{
	char name[32];
	peer_cfg_t *old;

	if (!running)
	{
		return;
	}
	snprintf(name, sizeof(name), "simcore-%u", id);
	old = take_tunnel(id);
	close_ike_sas(name);
	creds->remove_shared_unique(creds, name);
	DESTROY_IF(old);
}

int simcore_ike_rekey_child(uint32_t tunnel_id, uint32_t spi_in)
{
	host_t *dst;

	if (!running)
	{
		return -1;
	}
	dst = host_v4(opt.local_addr, 0);
	lib->processor->queue_job(lib->processor,
		(job_t*)rekey_child_sa_job_create(PROTO_ESP, htonl(spi_in), dst));
	dst->destroy(dst);
	return 0;
}

/* ---- events: charon's bus as callbacks ---------------------------------------------------- */

static bool on_ike_state(listener_t *this, ike_sa_t *ike_sa, ike_sa_state_t state)
{
	simcore_ike_event e;

	event_init(&e, SIMCORE_IKE_EVENT_IKE_STATE, ike_sa);
	snprintf(e.state, sizeof(e.state), "%N", ike_sa_state_names, state);
	cb.event(cb.ctx, &e);
	return TRUE;
}

static void child_fill(simcore_ike_event *e, child_sa_t *child_sa)
{
	proposal_t *p = child_sa->get_proposal(child_sa);

	e->child_spi_in = ntohl(child_sa->get_spi(child_sa, TRUE));
	e->child_spi_out = ntohl(child_sa->get_spi(child_sa, FALSE));
	if (p)
	{
		snprintf(e->proposal, sizeof(e->proposal), "%P", p);
	}
	if (!e->tunnel_id)
	{
		e->tunnel_id = child_sa->get_reqid(child_sa);
	}
}

static bool on_child_state(listener_t *this, ike_sa_t *ike_sa, child_sa_t *child_sa,
						   child_sa_state_t state)
{
	simcore_ike_event e;

	event_init(&e, SIMCORE_IKE_EVENT_CHILD_STATE, ike_sa);
	child_fill(&e, child_sa);
	snprintf(e.state, sizeof(e.state), "%N", child_sa_state_names, state);
	cb.event(cb.ctx, &e);
	return TRUE;
}

static bool on_ike_rekey(listener_t *this, ike_sa_t *old, ike_sa_t *new)
{
	simcore_ike_event e;

	event_init(&e, SIMCORE_IKE_EVENT_IKE_REKEYED, new);
	cb.event(cb.ctx, &e);
	return TRUE;
}

static bool on_child_rekey(listener_t *this, ike_sa_t *ike_sa, child_sa_t *old, child_sa_t *new)
{
	simcore_ike_event e;

	event_init(&e, SIMCORE_IKE_EVENT_CHILD_REKEYED, ike_sa);
	child_fill(&e, new);
	cb.event(cb.ctx, &e);
	return TRUE;
}

static const char *alert_text(alert_t alert)
{
	switch (alert)
	{
		case ALERT_LOCAL_AUTH_FAILED:
			return "the peer rejected our authentication (pre-shared key mismatch?)";
		case ALERT_PEER_AUTH_FAILED:
			return "the peer failed authentication (pre-shared key mismatch?)";
		case ALERT_PEER_INIT_UNREACHABLE:
			return "the peer is unreachable";
		case ALERT_RETRANSMIT_SEND_TIMEOUT:
			return "the peer did not answer (retransmits exhausted)";
		case ALERT_HALF_OPEN_TIMEOUT:
			return "the IKE_SA timed out half open";
		case ALERT_PROPOSAL_MISMATCH_IKE:
			return "no IKE proposal acceptable to both sides";
		case ALERT_PROPOSAL_MISMATCH_CHILD:
			return "no ESP proposal acceptable to both sides";
		case ALERT_TS_MISMATCH:
			return "traffic selectors (local/remote subnets) do not match the peer's";
		case ALERT_INSTALL_CHILD_SA_FAILED:
			return "the CHILD_SA could not be installed in the fast path";
		case ALERT_AUTHORIZATION_FAILED:
			return "authorization failed";
		case ALERT_IKE_SA_EXPIRED:
			return "the IKE_SA expired";
		case ALERT_PARSE_ERROR_HEADER:
		case ALERT_PARSE_ERROR_BODY:
			return "an IKE message from the peer could not be parsed";
		default:
			return NULL;
	}
}

static bool on_alert(listener_t *this, ike_sa_t *ike_sa, alert_t alert, va_list args)
{
	simcore_ike_event e;
	const char *text = alert_text(alert);

	if (!text)
	{
		return TRUE;
	}
	event_init(&e, SIMCORE_IKE_EVENT_ALERT, ike_sa);
	snprintf(e.text, sizeof(e.text), "%s", text);
	e.malformed = alert == ALERT_PARSE_ERROR_HEADER || alert == ALERT_PARSE_ERROR_BODY;
	cb.event(cb.ctx, &e);
	return TRUE;
}

static listener_t listener = {
	.ike_state_change = on_ike_state,
	.child_state_change = on_child_state,
	.ike_rekey = on_ike_rekey,
	.child_rekey = on_child_rekey,
	.alert = on_alert,
};

/* ---- start and stop ----------------------------------------------------------------------- */

static plugin_feature_t features[] = {
	PLUGIN_CALLBACK(kernel_ipsec_register, simcore_kernel_ipsec_create),
		PLUGIN_PROVIDE(CUSTOM, "kernel-ipsec"),
	PLUGIN_CALLBACK(kernel_net_register, simcore_kernel_net_create),
		PLUGIN_PROVIDE(CUSTOM, "kernel-net"),
	PLUGIN_CALLBACK(socket_register, simcore_socket_create),
		PLUGIN_PROVIDE(CUSTOM, "socket"),
};

/* libstrongswan reads its settings from a regular file only (not /dev/null); ours is written to a
 * private temporary file and removed at once, which also keeps /etc/strongswan.conf (and its
 * load_modular plugin list) out. */
static bool write_settings(char *path, size_t path_len)
{
	char text[1024];
	char retransmit[128] = "";
	int fd, n;

	if (opt.retransmit_tries)
	{
		snprintf(retransmit, sizeof(retransmit), "  retransmit_tries = %u\n",
				 opt.retransmit_tries);
	}
	if (opt.retransmit_timeout_s > 0)
	{
		snprintf(retransmit + strlen(retransmit), sizeof(retransmit) - strlen(retransmit),
				 "  retransmit_timeout = %.3f\n  retransmit_base = 1.0\n",
				 opt.retransmit_timeout_s);
	}
	n = snprintf(text, sizeof(text),
		"charon {\n"
		"  install_routes = no\n"
		"  install_virtual_ip = no\n"
		"  threads = 6\n"
		"%s"
		"  filelog {\n"
		"    stderr {\n"
		"      default = %d\n"
		"      ike_name = yes\n"
		"    }\n"
		"  }\n"
		"}\n", retransmit, opt.log_level);
	snprintf(path, path_len, "/tmp/simcore-charon-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
	{
		return FALSE;
	}
	if (write(fd, text, n) != n)
	{
		close(fd);
		unlink(path);
		return FALSE;
	}
	close(fd);
	return TRUE;
}

int simcore_ike_start(const simcore_ike_options *options, const simcore_ike_callbacks *callbacks,
					  char *err, size_t err_len)
{
	char path[64];
	level_t levels[DBG_MAX];
	int i;

	if (running)
	{
		set_err(err, err_len, "%s", "charon is already running in this process");
		return -1;
	}
	opt = *options;
	cb = *callbacks;
	if (pipe2(punt_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
	{
		set_err(err, err_len, "pipe: %s", strerror(errno));
		return -1;
	}
	/* only the write end is non-blocking: the receiver thread blocks in read() */
	fcntl(punt_pipe[0], F_SETFL, 0);
	if (!write_settings(path, sizeof(path)))
	{
		set_err(err, err_len, "cannot write charon's settings in %s", "/tmp");
		return -1;
	}
	if (!library_init(path, "charon"))
	{
		unlink(path);
		library_deinit();
		set_err(err, err_len, "%s", "libstrongswan failed to initialise");
		return -1;
	}
	unlink(path);
	if (!libcharon_init())
	{
		libcharon_deinit();
		library_deinit();
		set_err(err, err_len, "%s", "libcharon failed to initialise");
		return -1;
	}
	for (i = 0; i < DBG_MAX; i++)
	{
		levels[i] = opt.log_level;
	}
	charon->set_default_loggers(charon, levels, FALSE);
	charon->load_loggers(charon);
	lib->plugins->add_static_features(lib->plugins, "simcore", features, countof(features), TRUE,
									  NULL, NULL);
	/* crypto only: the socket and kernel interfaces are ours (above) */
	if (!charon->initialize(charon, "random nonce openssl aes sha1 sha2 hmac kdf gcm"))
	{
		libcharon_deinit();
		library_deinit();
		set_err(err, err_len, "%s", "charon failed to initialise (are the strongSwan plugins "
				"libstrongswan-standard-plugins installed?)");
		return -1;
	}
	creds = mem_cred_create();
	lib->credmgr->add_set(lib->credmgr, &creds->set);
	INIT(tunnels,
		.public = {
			.create_ike_cfg_enumerator = tunnels_ike_cfgs,
			.create_peer_cfg_enumerator = tunnels_peer_cfgs,
			.get_peer_cfg_by_name = tunnels_by_name,
		},
		.peers = linked_list_create(),
		.lock = rwlock_create(RWLOCK_TYPE_DEFAULT),
	);
	charon->backends->add_backend(charon->backends, &tunnels->public);
	charon->bus->add_listener(charon->bus, &listener);
	running = 1;
	charon->start(charon);
	return 0;
}

void simcore_ike_stop(void)
{
	packet_t *packet;

	if (!running)
	{
		return;
	}
	running = 0;
	charon->bus->remove_listener(charon->bus, &listener);
	charon->backends->remove_backend(charon->backends, &tunnels->public);
	lib->credmgr->remove_set(lib->credmgr, &creds->set);
	libcharon_deinit();
	/* after charon: its IKE_SAs held references to the connections until flushed */
	tunnels->peers->destroy_offset(tunnels->peers, offsetof(peer_cfg_t, destroy));
	tunnels->lock->destroy(tunnels->lock);
	free(tunnels);
	tunnels = NULL;
	creds->destroy(creds);
	creds = NULL;
	fcntl(punt_pipe[0], F_SETFL, O_NONBLOCK);
	while (read(punt_pipe[0], &packet, sizeof(packet)) == sizeof(packet))
	{
		packet->destroy(packet);
	}
	close(punt_pipe[0]);
	close(punt_pipe[1]);
	punt_pipe[0] = punt_pipe[1] = -1;
	library_deinit();
}
