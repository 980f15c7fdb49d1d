// control/store/schema.cc — the numbered migrations. To change the schema, append
// {N+1, "what it does", R"sql(...)sql"} to kMigrations; never edit a migration that has shipped.
// Store::open applies each pending one in its own transaction and records it in schema_version.
//
// Layout decisions (migration 1):
// - One row per object with real, typed columns, so the database can be read and repaired with
//   the sqlite3 shell, and UNIQUE/CHECK constraints back up core::Account's invariants.
// - A network's pools, routes, NAT rules and tunnels, and a profile's firewall rules, are child
//   tables (not JSON) with a `pos` column keeping the model's order: they hold references that
//   SQLite can check (route → tunnel, NAT rule → Thing), they cascade when the parent goes, and
//   put_network replaces them whole. Lists of plain strings that nothing refers to (tags, tunnel
//   subnets and proposals) are JSON text arrays.
// - Addresses and prefixes are dotted text ("10.8.0.7", "10.8.0.0/24"), readable in the shell.
// - References between objects are DEFERRABLE INITIALLY DEFERRED: checked at COMMIT, so a
//   transaction may write objects in any order, yet cannot commit a dangling reference.
// - The IPsec pre-shared key is stored in clear (the daemon's IKE needs it); the API layer
//   never returns it and nothing logs it. The database file is as secret as the config file.
// - events/sms/jobs use AUTOINCREMENT so ids are never reused (clients page with after_id).

#include "control/store/store.h"

namespace simcore::ctl {
namespace {

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE account_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE networks (
  id        INTEGER PRIMARY KEY,
  name      TEXT NOT NULL,
  apn       TEXT NOT NULL,
  isolation INTEGER NOT NULL CHECK (isolation IN (0, 1)),
  vlan      INTEGER NOT NULL CHECK (vlan BETWEEN 0 AND 4094)
);

CREATE TABLE ip_pools (
  id         INTEGER PRIMARY KEY,
  network_id INTEGER NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
  pos        INTEGER NOT NULL,
  cidr       TEXT NOT NULL,
  UNIQUE (network_id, pos)
);

CREATE TABLE ipsec_tunnels (
  id             INTEGER PRIMARY KEY,
  network_id     INTEGER NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
  pos            INTEGER NOT NULL,
  name           TEXT NOT NULL,
  peer           TEXT NOT NULL,
  local_subnets  TEXT NOT NULL DEFAULT '[]',  -- JSON array of CIDR strings
  remote_subnets TEXT NOT NULL DEFAULT '[]',
  ike_proposals  TEXT NOT NULL DEFAULT '[]',  -- JSON array of strongSwan proposal strings
  esp_proposals  TEXT NOT NULL DEFAULT '[]',
  pre_shared_key TEXT NOT NULL,               -- secret: never returned by the API, never logged
  dpd_seconds    INTEGER NOT NULL,
  initiator      INTEGER NOT NULL CHECK (initiator IN (0, 1)),
  UNIQUE (network_id, pos)
);

CREATE TABLE routes (
  id          INTEGER PRIMARY KEY,
  network_id  INTEGER NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
  pos         INTEGER NOT NULL,
  destination TEXT NOT NULL,
  target      TEXT NOT NULL CHECK (target IN ('INTERNET', 'IPSEC_TUNNEL', 'BLACKHOLE')),
  tunnel_id   INTEGER REFERENCES ipsec_tunnels (id) DEFERRABLE INITIALLY DEFERRED,
  CHECK ((target = 'IPSEC_TUNNEL') = (tunnel_id IS NOT NULL)),
  UNIQUE (network_id, pos)
);
CREATE INDEX routes_tunnel ON routes (tunnel_id);

CREATE TABLE ip_profiles (
  id               INTEGER PRIMARY KEY,
  name             TEXT NOT NULL,
  inbound_default  TEXT NOT NULL CHECK (inbound_default IN ('ALLOW', 'DENY')),
  outbound_default TEXT NOT NULL CHECK (outbound_default IN ('ALLOW', 'DENY')),
  stateful         INTEGER NOT NULL CHECK (stateful IN (0, 1))
);

CREATE TABLE firewall_rules (
  profile_id     INTEGER NOT NULL REFERENCES ip_profiles (id) ON DELETE CASCADE,
  chain          TEXT NOT NULL CHECK (chain IN ('inbound', 'outbound')),
  pos            INTEGER NOT NULL,
  id             INTEGER NOT NULL,
  priority       INTEGER NOT NULL,
  action         TEXT NOT NULL CHECK (action IN ('ALLOW', 'DENY')),
  protocol       INTEGER NOT NULL,  -- IP protocol number, 0 = any
  remote         TEXT NOT NULL,     -- CIDR
  remote_port_lo INTEGER NOT NULL,
  remote_port_hi INTEGER NOT NULL,
  local_port_lo  INTEGER NOT NULL,
  local_port_hi  INTEGER NOT NULL,
  PRIMARY KEY (profile_id, chain, pos)
) WITHOUT ROWID;

CREATE TABLE things_groups (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  network_id INTEGER NOT NULL REFERENCES networks (id) DEFERRABLE INITIALLY DEFERRED,
  profile_id INTEGER NOT NULL REFERENCES ip_profiles (id) DEFERRABLE INITIALLY DEFERRED,
  svc_data   INTEGER NOT NULL CHECK (svc_data IN (0, 1)),
  svc_sms    INTEGER NOT NULL CHECK (svc_sms IN (0, 1)),
  is_default INTEGER NOT NULL CHECK (is_default IN (0, 1))
);
CREATE UNIQUE INDEX things_groups_one_default ON things_groups (is_default) WHERE is_default = 1;
CREATE INDEX things_groups_network ON things_groups (network_id);
CREATE INDEX things_groups_profile ON things_groups (profile_id);

CREATE TABLE things (
  id          INTEGER PRIMARY KEY,
  slot        INTEGER NOT NULL UNIQUE,
  iccid       TEXT NOT NULL UNIQUE,
  imsi        TEXT NOT NULL UNIQUE,
  msisdn      TEXT NOT NULL,
  name        TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('PROVISIONED', 'ACTIVE', 'SUSPENDED', 'RETIRED')),
  group_id    INTEGER NOT NULL REFERENCES things_groups (id) DEFERRABLE INITIALLY DEFERRED,
  tags        TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
  imei        TEXT NOT NULL,
  imei_lock   INTEGER NOT NULL CHECK (imei_lock IN (0, 1)),
  ip_lock     INTEGER NOT NULL CHECK (ip_lock IN (0, 1)),
  locked_addr TEXT,
  svc_data    INTEGER NOT NULL CHECK (svc_data IN (0, 1)),
  svc_sms     INTEGER NOT NULL CHECK (svc_sms IN (0, 1)),
  -- The open session, all NULL when detached.
  ue_addr     TEXT,
  uplink_teid INTEGER,
  peer_addr   TEXT,
  peer_teid   INTEGER,
  apn         TEXT,
  rat         INTEGER,  -- TS 29.274 8.17 RAT type
  mcc         INTEGER,
  mnc         INTEGER,
  CHECK ((ue_addr IS NULL) = (uplink_teid IS NULL) AND (ue_addr IS NULL) = (peer_addr IS NULL)
         AND (ue_addr IS NULL) = (peer_teid IS NULL) AND (ue_addr IS NULL) = (apn IS NULL)
         AND (ue_addr IS NULL) = (rat IS NULL) AND (ue_addr IS NULL) = (mcc IS NULL)
         AND (ue_addr IS NULL) = (mnc IS NULL))
);
CREATE INDEX things_group ON things (group_id);

CREATE TABLE nat_rules (
  id          INTEGER PRIMARY KEY,
  network_id  INTEGER NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
  pos         INTEGER NOT NULL,
  protocol    INTEGER NOT NULL CHECK (protocol IN (6, 17)),
  public_ip   TEXT NOT NULL,
  public_port INTEGER NOT NULL,
  thing_id    INTEGER NOT NULL REFERENCES things (id) DEFERRABLE INITIALLY DEFERRED,
  thing_port  INTEGER NOT NULL,
  UNIQUE (network_id, pos)
);
CREATE INDEX nat_rules_thing ON nat_rules (thing_id);

CREATE TABLE users (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  email       TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('ADMIN', 'STANDARD', 'GROUP_USER', 'MONITOR')),
  client_id   TEXT UNIQUE,      -- NULL: no API credentials
  secret_hash TEXT NOT NULL     -- secret.h format; '' = cannot authenticate
);

-- A GROUP_USER's groups; deleting a group removes it from every list (as core::Account does).
CREATE TABLE user_groups (
  user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  pos      INTEGER NOT NULL,
  group_id INTEGER NOT NULL REFERENCES things_groups (id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, pos)
) WITHOUT ROWID;
CREATE INDEX user_groups_group ON user_groups (group_id);

CREATE TABLE events (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms  INTEGER NOT NULL,
  type     TEXT NOT NULL,
  thing_id INTEGER,
  detail   TEXT NOT NULL DEFAULT '{}'  -- JSON object
);
CREATE INDEX events_thing ON events (thing_id, id);
CREATE INDEX events_type ON events (type, id);

CREATE TABLE sms (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  thing_id   INTEGER NOT NULL,
  direction  TEXT NOT NULL CHECK (direction IN ('MT', 'MO')),
  text       TEXT NOT NULL,
  status     TEXT NOT NULL
             CHECK (status IN ('QUEUED', 'SENT', 'DELIVERED', 'FAILED', 'EXPIRED', 'RECEIVED')),
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  validity_s INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sms_thing ON sms (thing_id, id);
CREATE INDEX sms_status ON sms (status, id);

CREATE TABLE usage_daily (
  thing_id   INTEGER NOT NULL,
  day        TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
  bytes_up   INTEGER NOT NULL DEFAULT 0,
  bytes_down INTEGER NOT NULL DEFAULT 0,
  sms_count  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (thing_id, day)
) WITHOUT ROWID;
CREATE INDEX usage_daily_day ON usage_daily (day);

CREATE TABLE jobs (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  kind       TEXT NOT NULL,
  status     TEXT NOT NULL,
  request    TEXT NOT NULL DEFAULT '{}',
  result     TEXT NOT NULL DEFAULT '{}',
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE INDEX jobs_kind ON jobs (kind, id);
)sql";

constexpr Migration kMigrations[] = {
    {1, "initial schema", kSchemaV1},
};

}  // namespace

std::span<const Migration> builtin_migrations() { return kMigrations; }

}  // namespace simcore::ctl
