// core/account.h — one account's desired state and the only writer of it.
// Every mutation validates first and applies only when everything is valid, so a failed call
// changes nothing (a batch of 1,000 Things is provisioned whole or not at all). Errors name the
// field at fault with the API's names. Control thread only; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ip_pool.h"
#include "core/model.h"

namespace simcore::core {

// Everything an account holds. Things are indexed by ThingSlot and never removed.
struct Model {
  std::vector<Thing> things;
  std::map<GroupId, ThingsGroup> groups;
  std::map<NetworkId, Network> networks;
  std::map<ProfileId, IpProfile> profiles;
  std::map<UserId, User> users;
};

// The account "upon shipping": one network with one pool, an empty (allow-all) IP Profile and
// the default group that uses both.
struct ShippedDefaults {
  std::string network_name = "Default network";
  std::string apn = "iot.simcore";
  Cidr pool{Ipv4{(10u << 24) | (64u << 16)}, 12};  // 10.64.0.0/12: a million addresses
  std::string profile_name = "Default profile";
  std::string group_name = "Default group";
};

// Partial update of a Thing; unset fields stay as they are.
struct ThingPatch {
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> tags;
  std::optional<GroupId> group;
  std::optional<Services> services;
  std::optional<bool> ip_lock;
  std::optional<Ipv4> locked_addr;
  std::optional<bool> imei_lock;
};

struct NetworkPatch {
  std::optional<std::string> name;
  std::optional<bool> isolation;
  std::optional<uint16_t> vlan;
};

// What an attach (Create Session / Create PDP Context) asks for; checks that belong to the
// GTP-C handler (RAT, serving network, APN) are made there before calling attach().
struct AttachRequest {
  uint32_t uplink_teid = 0;
  Ipv4 peer_addr;
  uint32_t peer_teid = 0;
  std::string apn;
  Rat rat = Rat::kEutran;
  uint16_t mcc = 0;
  uint16_t mnc = 0;
  std::string imei;
};

class Account {
 public:
  explicit Account(const ShippedDefaults& defaults = {});

  // Rebuilds an account from a stored model (the persistence layer's load): indexes, address
  // leases (locked and session addresses) and id counters. Fails, naming the object, when the
  // model breaks an invariant the account keeps (duplicate ICCID, overlapping pools, an address
  // outside its network, no default group, ...).
  static Result<Account> restore(Model model);

  // The id counters: the next id of every kind but Things, and the next Thing id. restore()
  // recomputes them as max + 1, which would hand a deleted newest object's id out again; the
  // store keeps them and raises them after restore (an id is never reused).
  struct IdCounters {
    uint32_t next_id = 1;
    uint64_t next_thing_id = 1;
  };
  IdCounters id_counters() const noexcept { return {next_id_, next_thing_id_}; }
  // Raises the counters to at least `floor` (never lowers them).
  void raise_id_counters(IdCounters floor) noexcept;

  const Model& model() const noexcept { return model_; }
  GroupId default_group() const noexcept { return default_group_; }

  // Lookups; nullptr when absent.
  const Thing* thing(ThingId id) const noexcept;
  const Thing* thing_by_iccid(std::string_view iccid) const noexcept;
  const Thing* thing_by_imsi(std::string_view imsi) const noexcept;
  const Thing* thing_by_teid(uint32_t uplink_teid) const noexcept;
  const ThingsGroup* group(GroupId id) const noexcept;
  const Network* network(NetworkId id) const noexcept;
  const IpProfile* profile(ProfileId id) const noexcept;
  const IpAllocator* allocator(NetworkId id) const noexcept;

  // --- Networks and what hangs off them.
  // Creates a network (pools/routes/NAT/tunnels in `spec` are ignored: add them after).
  Result<NetworkId> create_network(const Network& spec);
  Status update_network(NetworkId id, const NetworkPatch& patch);
  // kFailedPrecondition while a group uses it.
  Status delete_network(NetworkId id);
  // kInvalidArgument "cidr" when it overlaps a pool of any network, or a NAT public address.
  Result<PoolId> add_pool(NetworkId network, Cidr cidr);
  // kFailedPrecondition when a leased or locked address would fall outside.
  Status resize_pool(NetworkId network, PoolId pool, Cidr cidr);
  Status remove_pool(NetworkId network, PoolId pool);
  Result<RouteId> add_route(NetworkId network, const Route& route);
  Status remove_route(NetworkId network, RouteId route);
  // The Thing must be in a group of this network with its IP locked (kFailedPrecondition).
  Result<NatRuleId> add_nat_rule(NetworkId network, const NatRule& rule);
  Status remove_nat_rule(NetworkId network, NatRuleId rule);
  Result<TunnelId> add_tunnel(NetworkId network, const IpsecTunnel& tunnel);
  // Replaces the tunnel's settings, keeping its id; the rules of add_tunnel apply.
  Status update_tunnel(NetworkId network, TunnelId tunnel, const IpsecTunnel& spec);
  // kFailedPrecondition while a route points at it.
  Status remove_tunnel(NetworkId network, TunnelId tunnel);

  // --- IP Profiles. Rule ids of a new or replaced profile are assigned here.
  Result<ProfileId> create_profile(const IpProfile& spec);
  Status replace_profile(ProfileId id, const IpProfile& spec);
  Status delete_profile(ProfileId id);

  // --- Things Groups.
  Result<GroupId> create_group(const ThingsGroup& spec);
  // Changing the network of a group with attached or IP-locked Things is refused.
  Status update_group(GroupId id, const ThingsGroup& spec);
  // The default group cannot be deleted; another's Things move to the default group.
  Status delete_group(GroupId id);

  // --- Things.
  // Provisions SIM inventory, all or nothing. Unset group → default group; state starts
  // PROVISIONED unless given; ids and slots are assigned here. Errors are prefixed "[i]".
  Result<std::vector<ThingId>> provision(const std::vector<Thing>& specs);
  Status update_thing(ThingId id, const ThingPatch& patch);
  // Applies the lifecycle table; SUSPENDED/RETIRED end the session; RETIRED releases the IP.
  Status set_state(ThingId id, ThingState to);
  // Opens a data session: Thing ACTIVE with data allowed, IP locked or leased dynamically.
  Result<Session> attach(ThingId id, const AttachRequest& req);
  // Ends the session; a dynamic address returns to the pool, a locked one stays.
  Status detach(ThingId id);
  // The peer moved the session's downlink end (Modify Bearer / Update PDP Context).
  Status modify_session(ThingId id, Ipv4 peer_addr, uint32_t peer_teid);
  // The uplink TEIDs of sessions that control ended (a state change to SUSPENDED or RETIRED),
  // oldest first, since the last call: the GTP-C handlers tell the peers. detach() and a
  // replacing attach() are the peer's own doing and are not listed.
  std::vector<uint32_t> take_ended_sessions();

  // --- Users.
  Result<UserId> create_user(const User& spec);
  // Replaces name, email, role and groups, keeping id and client id; the rules of create_user
  // apply, and demoting the last ADMIN is kFailedPrecondition on "role".
  Status update_user(UserId id, const User& spec);
  Status delete_user(UserId id);

  // Effective data service: the Thing's and its group's.
  bool data_allowed(const Thing& t) const noexcept;

 private:
  Thing* mutable_thing(ThingId id) noexcept;
  Network* mutable_network(NetworkId id) noexcept;
  Status check_pool_free(Cidr cidr, NetworkId self, PoolId except) const;
  NetworkId network_of(const Thing& t) const noexcept;
  void end_session(Thing& t);

  Model model_;
  std::map<NetworkId, IpAllocator> allocators_;
  std::unordered_map<uint64_t, uint32_t> by_id_;  // ThingId → slot
  std::unordered_map<std::string, uint32_t> by_iccid_;
  std::unordered_map<std::string, uint32_t> by_imsi_;
  std::unordered_map<uint32_t, uint32_t> by_teid_;  // open sessions' uplink TEID → slot
  GroupId default_group_;
  uint32_t next_id_ = 1;  // one counter for every id kind except Things
  uint64_t next_thing_id_ = 1;
  std::vector<uint32_t> ended_sessions_;  // see take_ended_sessions()
};

}  // namespace simcore::core
