#include "control/ike/ike.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "control/ike/charon_shim.h"

namespace simcore::ctl::ike {
namespace {

struct IkeSaInfo {
  std::string state;
  uint64_t spi_i = 0, spi_r = 0;
  std::string proposal;
};

struct TunnelState {
  std::map<uint32_t, IkeSaInfo> ike_sas;           // by charon's unique id
  std::map<uint32_t, ike::ChildSaStatus> children;  // by inbound SPI
  int64_t established_ms = 0;
  uint64_t rekeys = 0;
  int64_t last_rekey_ms = 0;
  std::string last_error;
};

using SaKey = std::pair<uint32_t, uint32_t>;  // (spi, outer destination)

// Higher is better: the state a tunnel shows is its best IKE_SA's.
int rank(const std::string& state) {
  static const char* const kOrder[] = {"DESTROYING", "DELETING", "CREATED", "PASSIVE",
                                       "CONNECTING", "REKEYED",  "REKEYING", "ESTABLISHED"};
  for (int i = 0; i < static_cast<int>(std::size(kOrder)); ++i) {
    if (state == kOrder[i]) return i;
  }
  return -1;
}

std::string fingerprint(const std::vector<uint8_t>& enc, const std::vector<uint8_t>& integ) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, enc.data(), enc.size());
  EVP_DigestUpdate(ctx, integ.data(), integ.size());
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 8 && i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace

struct Ike::Shared {
  Clock clock;
  core::Ipv4 local;
  mutable std::mutex mu;
  std::vector<Datagram> outgoing;
  std::map<SaKey, Sa> sad;
  bool sad_changed = false;
  std::map<core::TunnelId, TunnelState> tunnels;
  std::map<uint32_t, core::TunnelId> tunnel_by_peer;  // for events before charon knows the tunnel
  UsageSource usage;
  uint64_t malformed = 0;

  TunnelState* tunnel_of(const simcore_ike_event& e) {
    core::TunnelId id{e.tunnel_id};
    if (e.tunnel_id == 0) {
      auto p = tunnel_by_peer.find(e.peer);
      if (p == tunnel_by_peer.end()) return nullptr;
      id = p->second;
    }
    auto t = tunnels.find(id);
    return t == tunnels.end() ? nullptr : &t->second;
  }

  void on_event(const simcore_ike_event& e) {
    std::lock_guard lock(mu);
    if (e.kind == SIMCORE_IKE_EVENT_ALERT && e.malformed) ++malformed;
    TunnelState* t = tunnel_of(e);
    if (!t) return;
    const int64_t now = clock();
    switch (e.kind) {
      case SIMCORE_IKE_EVENT_IKE_STATE: {
        const std::string state = e.state;
        if (state == "DESTROYING") {
          t->ike_sas.erase(e.ike_unique_id);
          break;
        }
        IkeSaInfo& sa = t->ike_sas[e.ike_unique_id];
        sa.state = state;
        sa.spi_i = e.spi_i;
        sa.spi_r = e.spi_r;
        if (e.proposal[0]) sa.proposal = e.proposal;
        if (state == "ESTABLISHED") {
          t->established_ms = now;
          t->last_error.clear();
        }
        break;
      }
      case SIMCORE_IKE_EVENT_CHILD_STATE: {
        const std::string state = e.state;
        if (state == "DESTROYING" || state == "CREATED" || state == "ROUTED") {
          t->children.erase(e.child_spi_in);
          break;
        }
        if (e.child_spi_in == 0) break;
        ChildSaStatus& c = t->children[e.child_spi_in];
        if (c.installed_ms == 0) c.installed_ms = now;
        c.state = state;
        c.spi_in = e.child_spi_in;
        c.spi_out = e.child_spi_out;
        if (e.proposal[0]) c.proposal = e.proposal;
        break;
      }
      case SIMCORE_IKE_EVENT_IKE_REKEYED:
      case SIMCORE_IKE_EVENT_CHILD_REKEYED:
        ++t->rekeys;
        t->last_rekey_ms = now;
        break;
      case SIMCORE_IKE_EVENT_ALERT:
        t->last_error = e.text;
        break;
    }
  }

  // ---- charon's callbacks (charon threads)
  static void send(void* ctx, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                   const uint8_t* data, size_t len) {
    auto* self = static_cast<Shared*>(ctx);
    std::lock_guard lock(self->mu);
    self->outgoing.push_back({core::Ipv4{src}, core::Ipv4{dst}, sport, dport,
                              std::vector<uint8_t>(data, data + len)});
  }
  static void sa_added(void* ctx, const simcore_ike_sa* s) {
    auto* self = static_cast<Shared*>(ctx);
    Sa sa;
    sa.tunnel = core::TunnelId{s->tunnel_id};
    sa.spi = s->spi;
    sa.src = core::Ipv4{s->src};
    sa.dst = core::Ipv4{s->dst};
    sa.sport = s->src_port;
    sa.dport = s->dst_port;
    sa.inbound = s->inbound;
    sa.encap = s->encap;
    sa.esn = s->esn;
    sa.enc_alg = s->enc_alg;
    sa.int_alg = s->int_alg;
    sa.enc_key.assign(s->enc_key, s->enc_key + s->enc_key_len);
    sa.int_key.assign(s->int_key, s->int_key + s->int_key_len);
    sa.replay_window = s->replay_window;
    sa.enc_name = s->enc_name;
    sa.int_name = s->int_name;
    std::lock_guard lock(self->mu);
    sa.installed_ms = self->clock();
    self->sad[{sa.spi, sa.dst.value}] = std::move(sa);
    self->sad_changed = true;
  }
  static void sa_deleted(void* ctx, uint32_t spi, uint32_t dst) {
    auto* self = static_cast<Shared*>(ctx);
    std::lock_guard lock(self->mu);
    if (self->sad.erase({spi, dst}) > 0) self->sad_changed = true;
  }
  static int sa_usage(void* ctx, uint32_t spi, uint32_t dst, uint64_t* bytes, uint64_t* packets,
                      uint64_t* last_used) {
    auto* self = static_cast<Shared*>(ctx);
    UsageSource usage;
    {
      std::lock_guard lock(self->mu);
      if (!self->sad.contains({spi, dst})) return -1;
      usage = self->usage;
    }
    *bytes = *packets = *last_used = 0;
    // No source (no fast path yet): an SA nothing has used.
    if (usage) usage(spi, core::Ipv4{dst}, *bytes, *packets, *last_used);
    return 0;
  }
  static void event(void* ctx, const simcore_ike_event* e) { static_cast<Shared*>(ctx)->on_event(*e); }
};

Ike::Ike(Options options, Clock clock) : options_(options), shared_(std::make_unique<Shared>()) {
  shared_->clock = std::move(clock);
  shared_->local = options_.local;
}

core::Result<std::unique_ptr<Ike>> Ike::start(const Options& options, Clock clock) {
  std::unique_ptr<Ike> ike(new Ike(options, std::move(clock)));
  simcore_ike_options o{};
  o.local_addr = options.local.value;
  o.port = options.port;
  o.natt_port = options.natt_port;
  o.log_level = options.log_level;
  o.retransmit_tries = options.retransmit_tries;
  o.retransmit_timeout_s = options.retransmit_timeout_s;
  o.force_udp_encap = options.force_udp_encap ? 1 : 0;
  simcore_ike_callbacks cb{};
  cb.ctx = ike->shared_.get();
  cb.send = &Shared::send;
  cb.sa_added = &Shared::sa_added;
  cb.sa_deleted = &Shared::sa_deleted;
  cb.sa_usage = &Shared::sa_usage;
  cb.event = &Shared::event;
  char err[256] = "";
  if (simcore_ike_start(&o, &cb, err, sizeof(err)) != 0) {
    return core::Error(core::Code::kUnavailable, std::string("ike: ") + err);
  }
  return ike;
}

Ike::~Ike() {
  for (const auto& [id, applied] : applied_) simcore_ike_remove_tunnel(id.value);
  simcore_ike_stop();
}

bool Ike::deliver(const Datagram& d) {
  return simcore_ike_deliver(d.src.value, d.sport, d.dst.value, d.dport, d.payload.data(),
                             d.payload.size()) == 0;
}

void Ike::sync(const core::Model& model) {
  struct Wanted {
    simcore_ike_tunnel c{};
    std::string fingerprint;  // every field the connection is made of
    std::string ike, esp, psk;  // the strings c points at, set just before the shim reads them
  };
  std::map<core::TunnelId, Wanted> wanted;
  std::map<uint32_t, core::TunnelId> by_peer;
  for (const auto& [nid, net] : model.networks) {
    for (const core::IpsecTunnel& t : net.tunnels) {
      Wanted& w = wanted[t.id];
      simcore_ike_tunnel& c = w.c;
      c.id = t.id.value;
      c.peer = t.peer.value;
      c.peer_port = options_.peer_port;
      c.dpd_seconds = t.dpd_seconds;
      c.initiator = t.initiator ? 1 : 0;
      c.child_rekey_seconds = options_.child_rekey_seconds;
      for (const std::string& p : t.ike_proposals) w.ike += (w.ike.empty() ? "" : ",") + p;
      for (const std::string& p : t.esp_proposals) w.esp += (w.esp.empty() ? "" : ",") + p;
      w.psk = t.pre_shared_key;
      std::string& fp = w.fingerprint;
      fp = t.peer.str() + "|" + w.ike + "|" + w.esp + "|" + w.psk + "|" +
           std::to_string(t.dpd_seconds) + "|" + (t.initiator ? "i" : "r");
      auto add_subnets = [&fp](const std::vector<core::Cidr>& from, simcore_ike_subnet* to,
                               size_t& count) {
        for (const core::Cidr& s : from) {
          if (count == SIMCORE_IKE_MAX_SUBNETS) break;
          to[count++] = {s.base.value, s.len};
          fp += "|" + s.str();
        }
      };
      std::vector<core::Cidr> local = t.local_subnets;
      if (local.empty()) {
        for (const core::IpPool& p : net.pools) local.push_back(p.cidr);
      }
      add_subnets(local, c.local, c.local_count);
      fp += "|>";
      add_subnets(t.remote_subnets, c.remote, c.remote_count);
      by_peer[t.peer.value] = t.id;
    }
  }
  for (auto it = applied_.begin(); it != applied_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    simcore_ike_remove_tunnel(it->first.value);
    {
      std::lock_guard lock(shared_->mu);
      shared_->tunnels.erase(it->first);
    }
    it = applied_.erase(it);
  }
  {
    std::lock_guard lock(shared_->mu);
    shared_->tunnel_by_peer = by_peer;
    for (const auto& [id, w] : wanted) shared_->tunnels.try_emplace(id);
  }
  for (auto& [id, w] : wanted) {
    auto a = applied_.find(id);
    if (a != applied_.end() && a->second.fingerprint == w.fingerprint) continue;
    w.c.ike_proposals = w.ike.c_str();
    w.c.esp_proposals = w.esp.c_str();
    w.c.psk = w.psk.c_str();
    char err[256] = "";
    Applied applied{w.fingerprint, std::nullopt, w.c.initiator != 0, 0};
    if (simcore_ike_set_tunnel(&w.c, err, sizeof(err)) != 0) {
      applied.error = std::string("configuration refused: ") + err;
    }
    {
      std::lock_guard lock(shared_->mu);
      TunnelState& t = shared_->tunnels[id];
      t.last_error = applied.error.value_or("");
    }
    applied_[id] = std::move(applied);
  }
}

void Ike::tick(int64_t now_ms) {
  for (auto& [id, a] : applied_) {
    if (!a.initiator || a.error) continue;
    if (a.initiated_ms == 0) {
      a.initiated_ms = now_ms;  // sync() initiated it; count from the first tick
      continue;
    }
    if (now_ms - a.initiated_ms < int64_t{options_.retry_seconds} * 1000) continue;
    bool down;
    {
      std::lock_guard lock(shared_->mu);
      auto t = shared_->tunnels.find(id);
      down = t != shared_->tunnels.end() && t->second.ike_sas.empty();
    }
    if (!down) {
      a.initiated_ms = now_ms;
      continue;
    }
    simcore_ike_initiate(id.value);
    a.initiated_ms = now_ms;
  }
}

std::vector<Datagram> Ike::take_outgoing() {
  std::lock_guard lock(shared_->mu);
  return std::exchange(shared_->outgoing, {});
}

std::optional<std::vector<Sa>> Ike::take_sad() {
  std::lock_guard lock(shared_->mu);
  if (!shared_->sad_changed) return std::nullopt;
  shared_->sad_changed = false;
  std::vector<Sa> out;
  for (const auto& [key, sa] : shared_->sad) out.push_back(sa);
  return out;
}

std::vector<Sa> Ike::sad() const {
  std::lock_guard lock(shared_->mu);
  std::vector<Sa> out;
  for (const auto& [key, sa] : shared_->sad) out.push_back(sa);
  return out;
}

std::optional<TunnelStatus> Ike::status(core::TunnelId id) const {
  UsageSource usage;
  TunnelStatus s;
  std::vector<core::Ipv4> out_dst;  // per CHILD_SA: the outbound SA's destination
  {
    std::lock_guard lock(shared_->mu);
    auto it = shared_->tunnels.find(id);
    if (it == shared_->tunnels.end()) return std::nullopt;
    const TunnelState& t = it->second;
    const IkeSaInfo* best = nullptr;
    for (const auto& [uid, sa] : t.ike_sas) {
      if (!best || rank(sa.state) > rank(best->state)) best = &sa;
    }
    if (best) {
      s.ike_state = best->state;
      s.ike_spi_initiator = best->spi_i;
      s.ike_spi_responder = best->spi_r;
      s.ike_proposal = best->proposal;
    }
    s.established_ms = t.established_ms;
    s.rekeys = t.rekeys;
    s.last_rekey_ms = t.last_rekey_ms;
    s.last_error = t.last_error;
    for (const auto& [spi, c] : t.children) {
      ChildSaStatus out = c;
      core::Ipv4 peer;
      // The SAD knows the algorithms and keys of each direction.
      for (const auto& [key, sa] : shared_->sad) {
        if (sa.tunnel != id) continue;
        if (sa.inbound && sa.spi == c.spi_in) {
          out.encryption = sa.enc_name;
          out.integrity = sa.int_name;
          out.udp_encapsulation = sa.encap;
          // AES-GCM keys carry the 4-byte salt at the end (RFC 4106 §8.1).
          const bool gcm = sa.enc_alg >= 18 && sa.enc_alg <= 20;
          out.encryption_key_bits =
              static_cast<uint16_t>(8 * (sa.enc_key.size() - (gcm ? 4 : 0)));
          out.key_fingerprint_in = fingerprint(sa.enc_key, sa.int_key);
        } else if (!sa.inbound && sa.spi == c.spi_out) {
          out.key_fingerprint_out = fingerprint(sa.enc_key, sa.int_key);
          peer = sa.dst;
        }
      }
      s.child_sas.push_back(std::move(out));
      out_dst.push_back(peer);
    }
    usage = shared_->usage;
  }
  if (usage) {
    for (size_t i = 0; i < s.child_sas.size(); ++i) {
      ChildSaStatus& c = s.child_sas[i];
      uint64_t last = 0;
      usage(c.spi_in, shared_->local, c.bytes_in, c.packets_in, last);
      usage(c.spi_out, out_dst[i], c.bytes_out, c.packets_out, last);
    }
  }
  return s;
}

bool Ike::rekey(core::TunnelId id) {
  std::vector<uint32_t> spis;
  {
    std::lock_guard lock(shared_->mu);
    auto it = shared_->tunnels.find(id);
    if (it == shared_->tunnels.end()) return false;
    for (const auto& [spi, c] : it->second.children) {
      if (c.state == "INSTALLED") spis.push_back(spi);
    }
  }
  for (uint32_t spi : spis) simcore_ike_rekey_child(id.value, spi);
  return !spis.empty();
}

uint64_t Ike::malformed() const {
  std::lock_guard lock(shared_->mu);
  return shared_->malformed;
}

void Ike::set_usage_source(UsageSource source) {
  std::lock_guard lock(shared_->mu);
  shared_->usage = std::move(source);
}

}  // namespace simcore::ctl::ike
