// control/store/store.h — simcored's persistence: one SQLite database, <data_dir>/simcore.db.
// WAL journal with synchronous=FULL, so a commit() that returned Ok survives SIGKILL and power
// loss. The schema is versioned (table schema_version) and upgraded on open by numbered
// migrations (schema.cc); a database newer than this build is refused.
// Threading: a Store and its Txn belong to ONE thread (the control thread). Statements are
// prepared once and cached; nothing here locks. No exceptions escape; every failure is a
// Result/core::Status: SQLite errors are kInternal, except SQLITE_BUSY/LOCKED/FULL which are
// kUnavailable. Error messages name the table and the SQLite error, never a stored value (the
// IPsec pre-shared key is stored in clear because the daemon needs it, and must not leak).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/account.h"
#include "core/model.h"
#include "core/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace simcore::ctl {

// One schema step. `sql` runs with sqlite3_exec inside one IMMEDIATE transaction together with
// the schema_version row that records it, so a migration applies whole or not at all. Foreign
// keys stay on during migrations: a table rebuild must follow SQLite's "12-step" order.
struct Migration {
  int version;  // 1, 2, 3, ... contiguous
  std::string_view name;
  std::string_view sql;
};

// Returns the migrations this build knows, in order; the last one is the current version.
std::span<const Migration> builtin_migrations();

struct StoreOptions {
  // Empty: builtin_migrations(). Tests pass their own list to simulate upgrades.
  std::span<const Migration> migrations{};
  int busy_timeout_ms = 5000;
};

// A user as stored: the model object plus its client secret's hash (see secret.h).
struct StoredUser {
  core::User user;
  std::string secret_hash;
};

// --- Append-only records the API needs beside the model.

struct EventRecord {
  int64_t id = 0;  // assigned by append_event, increasing
  int64_t time_ms = 0;
  std::string type{};  // "STATE_CHANGED", "ATTACH", ...
  std::optional<core::ThingId> thing{};
  std::string detail_json = "{}";  // stored as given; the caller writes valid JSON
};

// Unset fields match everything.
struct EventFilter {
  std::optional<core::ThingId> thing{};
  std::optional<std::string> type{};
  std::optional<int64_t> since_ms{};  // time_ms >= since_ms
  std::optional<int64_t> until_ms{};  // time_ms <  until_ms
};

enum class SmsDirection : uint8_t { kMt, kMo };  // to the Thing / from the Thing
enum class SmsStatus : uint8_t { kQueued, kSent, kDelivered, kFailed, kExpired, kReceived };
const char* sms_status_name(SmsStatus s) noexcept;  // "QUEUED", ...

struct SmsRecord {
  int64_t id = 0;  // assigned by insert_sms
  core::ThingId thing{};
  SmsDirection direction = SmsDirection::kMt;
  std::string text{};
  SmsStatus status = SmsStatus::kQueued;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t validity_s = 0;  // MT: expires at created_ms + validity_s*1000; 0 = none
};

// Which SMS count_sms and list_sms_newest see; unset fields match everything.
struct SmsFilter {
  std::optional<core::ThingId> thing{};
  std::optional<SmsStatus> status{};
  std::optional<SmsDirection> direction{};
  std::optional<std::vector<core::GroupId>> groups{};  // of Things now in one of these groups
};

// Counters of one Thing on one UTC day.
struct UsageDay {
  core::ThingId thing{};
  std::string day{};  // "YYYY-MM-DD"
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
  uint64_t sms_count = 0;
};

// A bulk action or a billing report. kind/status/JSON are the API layer's vocabulary.
struct JobRecord {
  int64_t id = 0;  // 0 on put_job: assign a new id
  std::string kind{};
  std::string status{};
  std::string request_json = "{}";
  std::string result_json = "{}";
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

class Store {
 public:
  class Txn;

  // Opens (creating it and data_dir, like mkdir -p) <data_dir>/simcore.db, sets the pragmas and
  // applies pending migrations. Fails kFailedPrecondition when the database's schema is newer
  // than the migrations given, kInternal/kUnavailable on I/O or SQLite errors.
  static core::Result<std::unique_ptr<Store>> open(const std::string& data_dir,
                                                   const StoreOptions& options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const noexcept { return path_; }
  // Returns the schema version after migrations.
  int schema_version() const noexcept { return schema_version_; }

  // Starts a write transaction (BEGIN IMMEDIATE: the write lock is taken now, so commit cannot
  // fail on lock upgrade). Only one at a time: a second begin() while one is open fails kInternal.
  core::Result<Txn> begin();

  // Reads. They see the open transaction's own uncommitted writes, if any.
  // Returns the whole model: Things ordered by slot, child lists in their stored order.
  core::Result<core::Model> load_model();
  // kNotFound when no user has this client id.
  core::Result<StoredUser> get_user_by_client_id(std::string_view client_id);
  core::Result<std::optional<std::string>> get_meta(std::string_view key);
  // Events with id > after_id matching the filter, by increasing id, at most `limit`.
  core::Result<std::vector<EventRecord>> list_events(int64_t after_id, int limit,
                                                     const EventFilter& filter = {});
  core::Result<SmsRecord> get_sms(int64_t id);  // kNotFound
  // SMS with id > after_id, optionally of one Thing and/or one status, by increasing id.
  core::Result<std::vector<SmsRecord>> list_sms(int64_t after_id, int limit,
                                                std::optional<core::ThingId> thing = {},
                                                std::optional<SmsStatus> status = {});
  // How many SMS match; and one page of them, newest (highest id) first, `offset` skipped.
  core::Result<int64_t> count_sms(const SmsFilter& filter);
  core::Result<std::vector<SmsRecord>> list_sms_newest(const SmsFilter& filter, int64_t offset,
                                                       int limit);
  // Days from_day..to_day inclusive ("YYYY-MM-DD"), of one Thing or of all, by (thing, day).
  core::Result<std::vector<UsageDay>> list_usage(std::string_view from_day, std::string_view to_day,
                                                 std::optional<core::ThingId> thing = {});
  core::Result<JobRecord> get_job(int64_t id);  // kNotFound
  core::Result<std::vector<JobRecord>> list_jobs(int64_t after_id, int limit,
                                                 std::optional<std::string> kind = {});

  // Diagnostics. Returns the first value of a pragma query such as "journal_mode",
  // "synchronous" (2 = FULL), "foreign_keys"; the name must be [a-z_]+ (no "=value": settings
  // are this class's business), else kInvalidArgument.
  core::Result<std::string> pragma(std::string_view name);
  // Runs PRAGMA integrity_check and foreign_key_check; Ok when both are clean.
  core::Status check_integrity();

 private:
  friend class Txn;
  Store() = default;
  core::Status configure(const StoreOptions& options);
  core::Status migrate(std::span<const Migration> migrations);
  // Returns the cached prepared statement for `sql` (a string literal: the key is its text).
  core::Result<sqlite3_stmt*> stmt(std::string_view sql);
  core::Status exec(const char* sql, std::string_view what);
  // Runs a PRAGMA statement; returns the first column of its first row ("" when none).
  core::Result<std::string> run_pragma(const std::string& sql);
  core::Error error(int rc, std::string_view what) const;

  sqlite3* db_ = nullptr;
  std::string path_;
  int schema_version_ = 0;
  bool in_txn_ = false;
  std::unordered_map<std::string_view, sqlite3_stmt*> stmts_;
};

// A write transaction. Every method that fails rolls the whole transaction back at once and
// returns the error; later calls and commit() then fail too. The destructor rolls back a
// transaction that was not committed. Same thread as its Store; the Store must outlive it.
// Puts are upserts by id; deletes of absent ids are no-ops (core::Account has already decided).
class Store::Txn {
 public:
  Txn(Txn&& other) noexcept;
  Txn& operator=(Txn&&) = delete;
  ~Txn();

  // Makes every write durable (fsync of the WAL) before returning Ok. Deferred checks
  // (references between objects) run here: a dangling reference fails the commit.
  core::Status commit();
  void rollback() noexcept;
  bool active() const noexcept { return store_ != nullptr && open_; }

  // --- The model. References (group → network/profile, Thing → group, NAT → Thing, route →
  // tunnel) are checked at commit, so the order of puts inside a transaction does not matter.
  core::Status put_thing(const core::Thing& t);
  core::Status put_things(std::span<const core::Thing> things);  // one reused statement
  core::Status put_group(const core::ThingsGroup& g);
  // The group's Things must have been moved (put_thing) in the same transaction; it is
  // removed from users' group lists, as core::Account::delete_group does.
  core::Status delete_group(core::GroupId id);
  // Writes the network and replaces its pools, routes, NAT rules and tunnels.
  core::Status put_network(const core::Network& n);
  core::Status delete_network(core::NetworkId id);  // with its pools, routes, NAT rules, tunnels
  core::Status put_profile(const core::IpProfile& p);
  core::Status delete_profile(core::ProfileId id);
  // An empty secret_hash keeps the stored one (a user never given one cannot authenticate).
  core::Status put_user(const core::User& u, const std::string& secret_hash);
  core::Status delete_user(core::UserId id);
  core::Status set_meta(std::string_view key, std::string_view value);

  // --- Records. Ids are assigned here and returned.
  core::Result<int64_t> append_event(const EventRecord& e);
  core::Result<int64_t> insert_sms(const SmsRecord& s);
  // kNotFound when no such SMS.
  core::Status update_sms_status(int64_t id, SmsStatus status, int64_t updated_ms);
  // Adds the counters to the (thing, day) row, creating it at zero first.
  core::Status add_usage(const UsageDay& delta);
  // Inserts (id 0: a new id is returned) or replaces the job with this id.
  core::Result<int64_t> put_job(const JobRecord& j);

 private:
  friend class Store;
  explicit Txn(Store* store) : store_(store), open_(true) {}
  // Returns s; when it failed, rolls back first.
  core::Status guard(core::Status s);
  core::Status check_open() const;
  core::Status put_thing_row(sqlite3_stmt* st, const core::Thing& t);

  Store* store_;
  bool open_;
};

}  // namespace simcore::ctl
