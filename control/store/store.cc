#include "control/store/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <system_error>
#include <utility>

#include "core/check.h"

namespace simcore::ctl {

using core::Code;
using core::Error;

namespace {

// ---------------------------------------------------------------- small JSON: string arrays
// Tags, tunnel subnets and proposals are JSON arrays of strings; nothing else here needs JSON,
// so a dependency would cost more than these forty lines.

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 15];
          out += kHex[c & 15];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

template <class Range, class Str>
std::string json_array(const Range& items, Str&& str) {
  std::string out = "[";
  for (const auto& item : items) {
    if (out.size() > 1) out += ',';
    append_json_string(out, str(item));
  }
  return out + "]";
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | cp >> 12);
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | cp >> 18);
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// Parses `["a","b"]` (any JSON whitespace and string escapes); false on anything else.
bool parse_json_strings(std::string_view in, std::vector<std::string>& out) {
  size_t i = 0;
  auto ws = [&] {
    while (i < in.size() && (in[i] == ' ' || in[i] == '\n' || in[i] == '\r' || in[i] == '\t')) ++i;
  };
  auto hex4 = [&](uint32_t& v) {
    if (i + 4 > in.size()) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    return true;
  };
  out.clear();
  ws();
  if (i == in.size() || in[i++] != '[') return false;
  ws();
  if (i < in.size() && in[i] == ']') {
    ++i;
  } else {
    for (;;) {
      ws();
      if (i == in.size() || in[i++] != '"') return false;
      std::string s;
      for (;;) {
        if (i == in.size()) return false;
        const char c = in[i++];
        if (c == '"') break;
        if (c != '\\') {
          s += c;
          continue;
        }
        if (i == in.size()) return false;
        switch (in[i++]) {
          case '"': s += '"'; break;
          case '\\': s += '\\'; break;
          case '/': s += '/'; break;
          case 'b': s += '\b'; break;
          case 'f': s += '\f'; break;
          case 'n': s += '\n'; break;
          case 'r': s += '\r'; break;
          case 't': s += '\t'; break;
          case 'u': {
            uint32_t cp = 0;
            if (!hex4(cp)) return false;
            if (cp >= 0xd800 && cp < 0xdc00) {  // a surrogate pair
              uint32_t lo = 0;
              if (i + 2 > in.size() || in[i] != '\\' || in[i + 1] != 'u') return false;
              i += 2;
              if (!hex4(lo) || lo < 0xdc00 || lo >= 0xe000) return false;
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            append_utf8(s, cp);
            break;
          }
          default: return false;
        }
      }
      out.push_back(std::move(s));
      ws();
      if (i == in.size()) return false;
      const char sep = in[i++];
      if (sep == ']') break;
      if (sep != ',') return false;
    }
  }
  ws();
  return i == in.size();
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kSmsStatusNames[] = {"QUEUED", "SENT",    "DELIVERED",
                                           "FAILED", "EXPIRED", "RECEIVED"};

// ---------------------------------------------------------------- statement helpers

// Binds parameters of a cached statement in order and resets it when it goes out of scope, so
// a statement is never left mid-step (an unreset read would hold the WAL snapshot open).
class Query {
 public:
  explicit Query(sqlite3_stmt* s) : s_(s) {}
  ~Query() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& i64(int64_t v) { return check(sqlite3_bind_int64(s_, ++n_, v)); }
  Query& u64(uint64_t v) { return i64(static_cast<int64_t>(v)); }
  Query& flag(bool v) { return i64(v ? 1 : 0); }
  Query& null() { return check(sqlite3_bind_null(s_, ++n_)); }
  Query& text(std::string_view v) {
    // SQLITE_TRANSIENT: callers pass temporaries (json_array(...)); SQLite copies.
    return check(sqlite3_bind_text64(s_, ++n_, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  template <class T, class F>
  Query& opt(const std::optional<T>& v, F&& bind) {
    if (!v) return null();
    bind(*this, *v);
    return *this;
  }
  // Returns SQLITE_ROW, SQLITE_DONE or the (extended) error of binding or stepping.
  int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(s_); }
  sqlite3_stmt* get() const noexcept { return s_; }

 private:
  Query& check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }
  sqlite3_stmt* s_;
  int n_ = 0;
  int bind_rc_ = SQLITE_OK;
};

// Reads columns of the current row and remembers the first malformed value. Messages name the
// table and column only, never the value (it may be a pre-shared key).
class Row {
 public:
  Row(sqlite3_stmt* s, const char* table) : s_(s), table_(table) {}
  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  uint64_t u64(int c) const { return static_cast<uint64_t>(i64(c)); }
  bool flag(int c) { return i64(c) != 0; }
  template <class T>
  T uint(int c) {
    const int64_t v = i64(c);
    if (v < 0 || static_cast<uint64_t>(v) > std::numeric_limits<T>::max()) {
      fail(c, "integer out of range");
      return 0;
    }
    return static_cast<T>(v);
  }
  std::string str(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, c))) : std::string();
  }
  core::Ipv4 ipv4(int c) { return parsed<core::Ipv4>(c, core::Ipv4::parse, "not an IPv4 address"); }
  core::Cidr cidr(int c) { return parsed<core::Cidr>(c, core::Cidr::parse, "not a CIDR prefix"); }
  std::vector<std::string> strings(int c) {
    std::vector<std::string> v;
    if (!parse_json_strings(str(c), v)) fail(c, "not a JSON array of strings");
    return v;
  }
  std::vector<core::Cidr> cidrs(int c) {
    std::vector<core::Cidr> out;
    for (const std::string& s : strings(c)) {
      auto r = core::Cidr::parse(s);
      if (!r) fail(c, "not an array of CIDR prefixes");
      out.push_back(r ? *r : core::Cidr{});
    }
    return out;
  }
  template <class T, class Parse>
  T parsed(int c, Parse&& parse, const char* why) {
    auto r = parse(str(c));
    if (!r) {
      fail(c, why);
      return T{};
    }
    return *r;
  }
  void fail(int c, std::string_view why) {
    if (!err_) {
      err_ = Error(Code::kInternal, std::string("store: corrupt row in ") + table_ + "." +
                                        sqlite3_column_name(s_, c) + ": " + std::string(why));
    }
  }
  const std::optional<Error>& error() const { return err_; }

 private:
  sqlite3_stmt* s_;
  const char* table_;
  std::optional<Error> err_;
};

bool valid_rat(int64_t v) { return v == 1 || v == 2 || v == 6 || v == 8 || v == 9 || v == 10; }
bool valid_protocol(int64_t v) { return v == 0 || v == 1 || v == 6 || v == 17; }

}  // namespace

const char* sms_status_name(SmsStatus s) noexcept {
  return kSmsStatusNames[static_cast<size_t>(s)];
}

// ---------------------------------------------------------------- Store: open, pragmas, errors

Error Store::error(int rc, std::string_view what) const {
  const int primary = rc & 0xff;
  // BUSY/LOCKED: another connection holds the lock past the busy timeout; FULL: the disk is
  // full. Both may pass, so the API answers 503 rather than 500.
  const Code code = primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_FULL
                        ? Code::kUnavailable
                        : Code::kInternal;
  std::string msg = "store: " + std::string(what) + ": ";
  msg += db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  msg += " (SQLite code " + std::to_string(rc) + ")";
  return Error(code, std::move(msg));
}

core::Result<std::unique_ptr<Store>> Store::open(const std::string& data_dir,
                                                 const StoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return Error(Code::kInternal,
                 "store: cannot create data directory " + data_dir + ": " + ec.message());
  }
  std::unique_ptr<Store> s(new Store());
  s->path_ = (std::filesystem::path(data_dir) / "simcore.db").string();
  // NOMUTEX: one thread uses the connection (see the header), so SQLite's own mutex is waste.
  const int rc =
      sqlite3_open_v2(s->path_.c_str(), &s->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return s->error(rc, "open " + s->path_);
  sqlite3_extended_result_codes(s->db_, 1);
  if (core::Status st = s->configure(options); !st) return st.error();
  if (core::Status st =
          s->migrate(options.migrations.empty() ? builtin_migrations() : options.migrations);
      !st) {
    return st.error();
  }
  return s;
}

Store::~Store() {
  SIMCORE_DCHECK(!in_txn_);  // a Txn must not outlive its Store
  for (auto& [sql, st] : stmts_) sqlite3_finalize(st);
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

core::Status Store::configure(const StoreOptions& options) {
  sqlite3_busy_timeout(db_, options.busy_timeout_ms);
  // journal_mode answers with the mode it ended up in: a filesystem without shared memory
  // support stays in "delete", and we would rather refuse than run slower and differently.
  auto mode = run_pragma("PRAGMA journal_mode=WAL");
  if (!mode) return mode.error();
  if (*mode != "wal") {
    return Error(Code::kInternal,
                 "store: " + path_ + ": cannot enable WAL (journal_mode is " + *mode + ")");
  }
  // FULL: in WAL mode the log is fsynced at every commit, so an acknowledged write survives a
  // power cut, not just a crash of the process (NORMAL would only promise the latter).
  if (core::Status s = exec("PRAGMA synchronous=FULL", "set synchronous"); !s) return s;
  if (core::Status s = exec("PRAGMA foreign_keys=ON", "enable foreign keys"); !s) return s;
  // 64 MiB of page cache (the default is 2 MiB): a bulk transaction (100k Things) otherwise
  // spills dirty pages to the WAL again and again before commit, ~10x slower. It is a ceiling,
  // not an allocation.
  if (core::Status s = exec("PRAGMA cache_size=-65536", "set cache size"); !s) return s;
  return core::Status::Ok();
}

core::Status Store::exec(const char* sql, std::string_view what) {
  char* msg = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
  sqlite3_free(msg);  // sqlite3_errmsg says the same
  return rc == SQLITE_OK ? core::Status::Ok() : core::Status(error(rc, what));
}

core::Result<sqlite3_stmt*> Store::stmt(std::string_view sql) {
  if (auto it = stmts_.find(sql); it != stmts_.end()) return it->second;
  sqlite3_stmt* st = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &st, nullptr);
  if (rc != SQLITE_OK) return error(rc, "prepare");
  stmts_.emplace(sql, st);
  return st;
}

core::Result<std::string> Store::pragma(std::string_view name) {
  if (name.empty()) return Error(Code::kInvalidArgument, "store: bad pragma name");
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) {
      return Error(Code::kInvalidArgument, "store: bad pragma name");
    }
  }
  return run_pragma("PRAGMA " + std::string(name));
}

core::Result<std::string> Store::run_pragma(const std::string& sql) {
  // Not cached: start-up and diagnostics only.
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
  if (rc != SQLITE_OK) return error(rc, sql);
  std::string value;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    value = p ? p : "";
    rc = SQLITE_DONE;
  }
  core::Result<std::string> out =
      rc == SQLITE_DONE ? core::Result<std::string>(value) : error(rc, sql);
  sqlite3_finalize(st);
  return out;
}

core::Status Store::check_integrity() {
  auto ic = pragma("integrity_check");
  if (!ic) return ic.status();
  if (*ic != "ok") return Error(Code::kInternal, "store: integrity_check: " + *ic);
  auto fk = pragma("foreign_key_check");
  if (!fk) return fk.status();
  if (!fk->empty()) return Error(Code::kInternal, "store: foreign_key_check: table " + *fk);
  return core::Status::Ok();
}

// ---------------------------------------------------------------- migrations

core::Status Store::migrate(std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i + 1)) {
      return Error(Code::kInternal, "store: migrations must be numbered 1, 2, 3, ...");
    }
  }
  const int latest = static_cast<int>(migrations.size());
  if (core::Status s = exec("CREATE TABLE IF NOT EXISTS schema_version ("
                            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                            " applied_ms INTEGER NOT NULL)",
                            "create schema_version");
      !s) {
    return s;
  }
  auto current = [this]() -> core::Result<int> {
    auto st = stmt("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (!st) return st.error();
    Query q(*st);
    const int rc = q.step();
    if (rc != SQLITE_ROW) return error(rc, "read schema_version");
    return static_cast<int>(sqlite3_column_int64(*st, 0));
  };
  auto found = current();
  if (!found) return found.error();
  if (*found > latest) {
    return Error(Code::kFailedPrecondition,
                 "store: " + path_ + " has schema version " + std::to_string(*found) +
                     ", newer than this build supports (" + std::to_string(latest) +
                     "); refusing to open it. Run a newer simcored or restore a backup.");
  }
  for (const Migration& m : migrations) {
    if (m.version <= *found) continue;
    const std::string what =
        "migration " + std::to_string(m.version) + " (" + std::string(m.name) + ")";
    if (core::Status s = exec("BEGIN IMMEDIATE", what); !s) return s;
    auto apply = [&]() -> core::Status {
      // Re-read under the write lock: another process may have migrated meanwhile.
      auto now = current();
      if (!now) return now.error();
      if (*now >= m.version) return core::Status::Ok();
      if (*now != m.version - 1) return Error(Code::kInternal, "store: " + what + ": gap");
      if (core::Status s = exec(std::string(m.sql).c_str(), what); !s) return s;
      auto st = stmt("INSERT INTO schema_version (version, name, applied_ms) VALUES (?, ?, ?)");
      if (!st) return st.error();
      Query q(*st);
      q.i64(m.version).text(m.name).i64(now_ms());
      if (const int rc = q.step(); rc != SQLITE_DONE) return error(rc, what);
      return exec("COMMIT", what);
    };
    if (core::Status s = apply(); !s) {
      if (!sqlite3_get_autocommit(db_)) (void)exec("ROLLBACK", what);
      return s;
    }
  }
  schema_version_ = std::max(*found, latest);
  return core::Status::Ok();
}

// ---------------------------------------------------------------- transactions

core::Result<Store::Txn> Store::begin() {
  if (in_txn_) return Error(Code::kInternal, "store: a transaction is already open");
  auto st = stmt("BEGIN IMMEDIATE");
  if (!st) return st.error();
  Query q(*st);
  if (const int rc = q.step(); rc != SQLITE_DONE) return error(rc, "begin");
  in_txn_ = true;
  return Txn(this);
}

Store::Txn::Txn(Txn&& other) noexcept : store_(other.store_), open_(other.open_) {
  other.store_ = nullptr;
  other.open_ = false;
}

Store::Txn::~Txn() { rollback(); }

void Store::Txn::rollback() noexcept {
  if (!active()) return;
  open_ = false;
  store_->in_txn_ = false;
  // SQLite has already rolled back by itself after some errors (SQLITE_FULL, IOERR, NOMEM).
  if (sqlite3_get_autocommit(store_->db_)) return;
  auto st = store_->stmt("ROLLBACK");
  if (!st) {
    (void)store_->exec("ROLLBACK", "rollback");
    return;
  }
  Query q(*st);
  (void)q.step();
}

core::Status Store::Txn::check_open() const {
  if (active()) return core::Status::Ok();
  return Error(Code::kInternal, "store: the transaction was committed or rolled back");
}

core::Status Store::Txn::guard(core::Status s) {
  if (!s) rollback();
  return s;
}

core::Status Store::Txn::commit() {
  if (core::Status s = check_open(); !s) return s;
  auto st = store_->stmt("COMMIT");
  if (!st) return guard(st.status());
  int rc;
  {
    Query q(*st);
    rc = q.step();
  }
  if (rc != SQLITE_DONE) {
    // e.g. a dangling reference found by the deferred foreign keys: the transaction is still
    // open; roll it back so the caller's view (nothing happened) is the truth.
    Error e = store_->error(rc, "commit");
    rollback();
    return e;
  }
  open_ = false;
  store_->in_txn_ = false;
  return core::Status::Ok();
}

// Runs one write statement to completion; `what` names it in errors.
#define SIMCORE_STORE_RUN(q, what)                                           \
  do {                                                                       \
    if (const int rc_ = (q).step(); rc_ != SQLITE_DONE && rc_ != SQLITE_ROW) \
      return store_->error(rc_, what);                                       \
  } while (0)

#define SIMCORE_STORE_STMT(var, sql)    \
  auto var##_r = store_->stmt(sql);     \
  if (!var##_r) return var##_r.error(); \
  sqlite3_stmt* var = *var##_r

// ---------------------------------------------------------------- model: writes

namespace {

constexpr std::string_view kPutThing =
    "INSERT INTO things (id, slot, iccid, imsi, msisdn, name, state, group_id, tags, imei,"
    " imei_lock, ip_lock, locked_addr, svc_data, svc_sms, ue_addr, uplink_teid, peer_addr,"
    " peer_teid, apn, rat, mcc, mnc)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET slot = excluded.slot, iccid = excluded.iccid,"
    " imsi = excluded.imsi, msisdn = excluded.msisdn, name = excluded.name,"
    " state = excluded.state, group_id = excluded.group_id, tags = excluded.tags,"
    " imei = excluded.imei, imei_lock = excluded.imei_lock, ip_lock = excluded.ip_lock,"
    " locked_addr = excluded.locked_addr, svc_data = excluded.svc_data,"
    " svc_sms = excluded.svc_sms, ue_addr = excluded.ue_addr,"
    " uplink_teid = excluded.uplink_teid, peer_addr = excluded.peer_addr,"
    " peer_teid = excluded.peer_teid, apn = excluded.apn, rat = excluded.rat,"
    " mcc = excluded.mcc, mnc = excluded.mnc";

}  // namespace

core::Status Store::Txn::put_thing_row(sqlite3_stmt* st, const core::Thing& t) {
  Query q(st);
  q.u64(t.id.value)
      .i64(t.slot.value)
      .text(t.iccid)
      .text(t.imsi)
      .text(t.msisdn)
      .text(t.name)
      .text(core::state_name(t.state))
      .i64(t.group.value)
      .text(json_array(t.tags, [](const std::string& s) -> std::string_view { return s; }))
      .text(t.imei)
      .flag(t.imei_lock)
      .flag(t.ip_lock)
      .opt(t.locked_addr, [](Query& b, core::Ipv4 a) { b.text(a.str()); })
      .flag(t.services.data)
      .flag(t.services.sms);
  if (const auto& s = t.session) {
    q.text(s->ue_addr.str())
        .i64(s->uplink_teid)
        .text(s->peer_addr.str())
        .i64(s->peer_teid)
        .text(s->apn)
        .i64(static_cast<int>(s->rat))
        .i64(s->mcc)
        .i64(s->mnc);
  } else {
    q.null().null().null().null().null().null().null().null();
  }
  SIMCORE_STORE_RUN(q, "put thing " + std::to_string(t.id.value));
  return core::Status::Ok();
}

core::Status Store::Txn::put_thing(const core::Thing& t) { return put_things({&t, 1}); }

core::Status Store::Txn::put_things(std::span<const core::Thing> things) {
  if (core::Status s = check_open(); !s) return s;
  return guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st, kPutThing);
    for (const core::Thing& t : things) {
      if (core::Status s = put_thing_row(st, t); !s) return s;
    }
    return core::Status::Ok();
  }());
}

core::Status Store::Txn::put_group(const core::ThingsGroup& g) {
  if (core::Status s = check_open(); !s) return s;
  return guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st,
                       "INSERT INTO things_groups (id, name, network_id, profile_id, svc_data,"
                       " svc_sms, is_default) VALUES (?, ?, ?, ?, ?, ?, ?)"
                       " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                       " network_id = excluded.network_id, profile_id = excluded.profile_id,"
                       " svc_data = excluded.svc_data, svc_sms = excluded.svc_sms,"
                       " is_default = excluded.is_default");
    Query q(st);
    q.i64(g.id.value)
        .text(g.name)
        .i64(g.network.value)
        .i64(g.profile.value)
        .flag(g.services.data)
        .flag(g.services.sms)
        .flag(g.is_default);
    SIMCORE_STORE_RUN(q, "put things group " + std::to_string(g.id.value));
    return core::Status::Ok();
  }());
}

core::Status Store::Txn::delete_group(core::GroupId id) {
  if (core::Status s = check_open(); !s) return s;
  return guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st, "DELETE FROM things_groups WHERE id = ?");
    Query q(st);
    q.i64(id.value);
    SIMCORE_STORE_RUN(q, "delete things group " + std::to_string(id.value));
    return core::Status::Ok();
  }());
}

core::Status Store::Txn::put_network(const core::Network& n) {
  if (core::Status s = check_open(); !s) return s;
  const std::string what = "put network " + std::to_string(n.id.value);
  return guard([&]() -> core::Status {
    {
      SIMCORE_STORE_STMT(st,
                         "INSERT INTO networks (id, name, apn, isolation, vlan)"
                         " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                         " name = excluded.name, apn = excluded.apn,"
                         " isolation = excluded.isolation, vlan = excluded.vlan");
      Query q(st);
      q.i64(n.id.value).text(n.name).text(n.apn).flag(n.isolation).i64(n.vlan);
      SIMCORE_STORE_RUN(q, what);
    }
    // Replace the children whole: the model's lists are the truth, and they are short.
    for (std::string_view sql : {
             std::string_view("DELETE FROM ip_pools WHERE network_id = ?"),
             std::string_view("DELETE FROM routes WHERE network_id = ?"),
             std::string_view("DELETE FROM nat_rules WHERE network_id = ?"),
             std::string_view("DELETE FROM ipsec_tunnels WHERE network_id = ?"),
         }) {
      SIMCORE_STORE_STMT(st, sql);
      Query q(st);
      q.i64(n.id.value);
      SIMCORE_STORE_RUN(q, what);
    }
    for (size_t i = 0; i < n.pools.size(); ++i) {
      SIMCORE_STORE_STMT(st,
                         "INSERT INTO ip_pools (id, network_id, pos, cidr) VALUES (?, ?, ?, ?)");
      Query q(st);
      q.i64(n.pools[i].id.value).i64(n.id.value).i64(static_cast<int64_t>(i));
      q.text(n.pools[i].cidr.str());
      SIMCORE_STORE_RUN(q, what + " pool");
    }
    auto cidr_str = [](const core::Cidr& c) { return c.str(); };
    auto same = [](const std::string& s) -> std::string_view { return s; };
    for (size_t i = 0; i < n.tunnels.size(); ++i) {
      const core::IpsecTunnel& t = n.tunnels[i];
      SIMCORE_STORE_STMT(st,
                         "INSERT INTO ipsec_tunnels (id, network_id, pos, name, peer,"
                         " local_subnets, remote_subnets, ike_proposals, esp_proposals,"
                         " pre_shared_key, dpd_seconds, initiator)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      Query q(st);
      q.i64(t.id.value).i64(n.id.value).i64(static_cast<int64_t>(i)).text(t.name);
      q.text(t.peer.str())
          .text(json_array(t.local_subnets, cidr_str))
          .text(json_array(t.remote_subnets, cidr_str))
          .text(json_array(t.ike_proposals, same))
          .text(json_array(t.esp_proposals, same))
          .text(t.pre_shared_key)
          .i64(t.dpd_seconds)
          .flag(t.initiator);
      SIMCORE_STORE_RUN(q, what + " tunnel");
    }
    for (size_t i = 0; i < n.routes.size(); ++i) {
      const core::Route& r = n.routes[i];
      SIMCORE_STORE_STMT(st,
                         "INSERT INTO routes (id, network_id, pos, destination, target,"
                         " tunnel_id) VALUES (?, ?, ?, ?, ?, ?)");
      Query q(st);
      q.i64(r.id.value).i64(n.id.value).i64(static_cast<int64_t>(i));
      q.text(r.destination.str()).text(core::route_target_name(r.target));
      if (r.tunnel)
        q.i64(r.tunnel.value);
      else
        q.null();
      SIMCORE_STORE_RUN(q, what + " route");
    }
    for (size_t i = 0; i < n.nat_rules.size(); ++i) {
      const core::NatRule& r = n.nat_rules[i];
      SIMCORE_STORE_STMT(st,
                         "INSERT INTO nat_rules (id, network_id, pos, protocol, public_ip,"
                         " public_port, thing_id, thing_port) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
      Query q(st);
      q.i64(r.id.value).i64(n.id.value).i64(static_cast<int64_t>(i));
      q.i64(static_cast<int>(r.protocol)).text(r.public_ip.str()).i64(r.public_port);
      q.u64(r.thing.value).i64(r.thing_port);
      SIMCORE_STORE_RUN(q, what + " NAT rule");
    }
    return core::Status::Ok();
  }());
}

core::Status Store::Txn::delete_network(core::NetworkId id) {
  if (core::Status s = check_open(); !s) return s;
  return guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st, "DELETE FROM networks WHERE id = ?");
    Query q(st);
    q.i64(id.value);
    SIMCORE_STORE_RUN(q, "delete network " + std::to_string(id.value));
    return core::Status::Ok();
  }());
}

core::Status Store::Txn::put_profile(const core::IpProfile& p) {
  if (core::Status s = check_open(); !s) return s;
  const std::string what = "put IP profile " + std::to_string(p.id.value);
  return guard([&]() -> core::Status {
    {
      SIMCORE_STORE_STMT(st,
                         "INSERT INTO ip_profiles (id, name, inbound_default, outbound_default,"
                         " stateful) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                         " name = excluded.name, inbound_default = excluded.inbound_default,"
                         " outbound_default = excluded.outbound_default,"
                         " stateful = excluded.stateful");
      Query q(st);
      q.i64(p.id.value)
          .text(p.name)
          .text(core::action_name(p.inbound.default_action))
          .text(core::action_name(p.outbound.default_action))
          .flag(p.stateful);
      SIMCORE_STORE_RUN(q, what);
    }
    {
      SIMCORE_STORE_STMT(st, "DELETE FROM firewall_rules WHERE profile_id = ?");
      Query q(st);
      q.i64(p.id.value);
      SIMCORE_STORE_RUN(q, what);
    }
    for (const auto& [chain_name, chain] :
         {std::pair<const char*, const core::Chain*>{"inbound", &p.inbound},
          {"outbound", &p.outbound}}) {
      for (size_t i = 0; i < chain->rules.size(); ++i) {
        const core::FirewallRule& r = chain->rules[i];
        SIMCORE_STORE_STMT(st,
                           "INSERT INTO firewall_rules (profile_id, chain, pos, id, priority,"
                           " action, protocol, remote, remote_port_lo, remote_port_hi,"
                           " local_port_lo, local_port_hi)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        Query q(st);
        q.i64(p.id.value).text(chain_name).i64(static_cast<int64_t>(i)).i64(r.id.value);
        q.i64(r.priority).text(core::action_name(r.action)).i64(static_cast<int>(r.protocol));
        q.text(r.remote.str()).i64(r.remote_ports.lo).i64(r.remote_ports.hi);
        q.i64(r.local_ports.lo).i64(r.local_ports.hi);
        SIMCORE_STORE_RUN(q, what + " rule");
      }
    }
    return core::Status::Ok();
  }());
}

core::Status Store::Txn::delete_profile(core::ProfileId id) {
  if (core::Status s = check_open(); !s) return s;
  return guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st, "DELETE FROM ip_profiles WHERE id = ?");
    Query q(st);
    q.i64(id.value);
    SIMCORE_STORE_RUN(q, "delete IP profile " + std::to_string(id.value));
    return core::Status::Ok();
  }());
}

core::Status Store::Txn::put_user(const core::User& u, const std::string& secret_hash) {
  if (core::Status s = check_open(); !s) return s;
  const std::string what = "put user " + std::to_string(u.id.value);
  return guard([&]() -> core::Status {
    {
      SIMCORE_STORE_STMT(st,
                         "INSERT INTO users (id, name, email, role, client_id, secret_hash)"
                         " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                         " name = excluded.name, email = excluded.email, role = excluded.role,"
                         " client_id = excluded.client_id, secret_hash = CASE"
                         " WHEN excluded.secret_hash = '' THEN users.secret_hash"
                         " ELSE excluded.secret_hash END");
      Query q(st);
      q.i64(u.id.value).text(u.name).text(u.email).text(core::role_name(u.role));
      if (u.client_id.empty())
        q.null();
      else
        q.text(u.client_id);
      q.text(secret_hash);
      SIMCORE_STORE_RUN(q, what);
    }
    {
      SIMCORE_STORE_STMT(st, "DELETE FROM user_groups WHERE user_id = ?");
      Query q(st);
      q.i64(u.id.value);
      SIMCORE_STORE_RUN(q, what);
    }
    for (size_t i = 0; i < u.groups.size(); ++i) {
      SIMCORE_STORE_STMT(st, "INSERT INTO user_groups (user_id, pos, group_id) VALUES (?, ?, ?)");
      Query q(st);
      q.i64(u.id.value).i64(static_cast<int64_t>(i)).i64(u.groups[i].value);
      SIMCORE_STORE_RUN(q, what + " group");
    }
    return core::Status::Ok();
  }());
}

core::Status Store::Txn::delete_user(core::UserId id) {
  if (core::Status s = check_open(); !s) return s;
  return guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st, "DELETE FROM users WHERE id = ?");
    Query q(st);
    q.i64(id.value);
    SIMCORE_STORE_RUN(q, "delete user " + std::to_string(id.value));
    return core::Status::Ok();
  }());
}

core::Status Store::Txn::set_meta(std::string_view key, std::string_view value) {
  if (core::Status s = check_open(); !s) return s;
  return guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st,
                       "INSERT INTO account_meta (key, value) VALUES (?, ?)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    Query q(st);
    q.text(key).text(value);
    SIMCORE_STORE_RUN(q, "set meta " + std::string(key));
    return core::Status::Ok();
  }());
}

// ---------------------------------------------------------------- records: writes

core::Result<int64_t> Store::Txn::append_event(const EventRecord& e) {
  if (core::Status s = check_open(); !s) return s.error();
  int64_t id = 0;
  core::Status s = guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st,
                       "INSERT INTO events (time_ms, type, thing_id, detail) VALUES (?, ?, ?, ?)");
    Query q(st);
    q.i64(e.time_ms).text(e.type);
    if (e.thing)
      q.u64(e.thing->value);
    else
      q.null();
    q.text(e.detail_json);
    SIMCORE_STORE_RUN(q, "append event");
    id = sqlite3_last_insert_rowid(store_->db_);
    return core::Status::Ok();
  }());
  if (!s) return s.error();
  return id;
}

core::Result<int64_t> Store::Txn::insert_sms(const SmsRecord& m) {
  if (core::Status s = check_open(); !s) return s.error();
  int64_t id = 0;
  core::Status s = guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st,
                       "INSERT INTO sms (thing_id, direction, text, status, created_ms,"
                       " updated_ms, validity_s) VALUES (?, ?, ?, ?, ?, ?, ?)");
    Query q(st);
    q.u64(m.thing.value).text(m.direction == SmsDirection::kMt ? "MT" : "MO").text(m.text);
    q.text(sms_status_name(m.status)).i64(m.created_ms).i64(m.updated_ms).i64(m.validity_s);
    SIMCORE_STORE_RUN(q, "insert sms");
    id = sqlite3_last_insert_rowid(store_->db_);
    return core::Status::Ok();
  }());
  if (!s) return s.error();
  return id;
}

core::Status Store::Txn::update_sms_status(int64_t id, SmsStatus status, int64_t updated_ms) {
  if (core::Status s = check_open(); !s) return s;
  return guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st, "UPDATE sms SET status = ?, updated_ms = ? WHERE id = ?");
    Query q(st);
    q.text(sms_status_name(status)).i64(updated_ms).i64(id);
    SIMCORE_STORE_RUN(q, "update sms " + std::to_string(id));
    if (sqlite3_changes(store_->db_) == 0) {
      return Error(Code::kNotFound, "store: no sms " + std::to_string(id));
    }
    return core::Status::Ok();
  }());
}

core::Status Store::Txn::add_usage(const UsageDay& d) {
  if (core::Status s = check_open(); !s) return s;
  return guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st,
                       "INSERT INTO usage_daily (thing_id, day, bytes_up, bytes_down, sms_count)"
                       " VALUES (?, ?, ?, ?, ?) ON CONFLICT (thing_id, day) DO UPDATE SET"
                       " bytes_up = bytes_up + excluded.bytes_up,"
                       " bytes_down = bytes_down + excluded.bytes_down,"
                       " sms_count = sms_count + excluded.sms_count");
    Query q(st);
    q.u64(d.thing.value).text(d.day).u64(d.bytes_up).u64(d.bytes_down).u64(d.sms_count);
    SIMCORE_STORE_RUN(q, "add usage of thing " + std::to_string(d.thing.value));
    return core::Status::Ok();
  }());
}

core::Result<int64_t> Store::Txn::put_job(const JobRecord& j) {
  if (core::Status s = check_open(); !s) return s.error();
  int64_t id = j.id;
  core::Status s = guard([&]() -> core::Status {
    SIMCORE_STORE_STMT(st,
                       "INSERT INTO jobs (id, kind, status, request, result, created_ms,"
                       " updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                       " kind = excluded.kind, status = excluded.status,"
                       " request = excluded.request, result = excluded.result,"
                       " updated_ms = excluded.updated_ms");
    Query q(st);
    if (j.id == 0)
      q.null();
    else
      q.i64(j.id);  // NULL id: AUTOINCREMENT picks one
    q.text(j.kind).text(j.status).text(j.request_json).text(j.result_json);
    q.i64(j.created_ms).i64(j.updated_ms);
    SIMCORE_STORE_RUN(q, "put job");
    if (j.id == 0) id = sqlite3_last_insert_rowid(store_->db_);
    return core::Status::Ok();
  }());
  if (!s) return s.error();
  return id;
}

#undef SIMCORE_STORE_STMT
#undef SIMCORE_STORE_RUN

// ---------------------------------------------------------------- reads

// Runs the block for every row of a query (as `row`); stops at the first malformed value.
#define SIMCORE_STORE_EACH(query, table, ...)                \
  for (;;) {                                                 \
    const int rc_ = (query).step();                          \
    if (rc_ == SQLITE_DONE) break;                           \
    if (rc_ != SQLITE_ROW) return error(rc_, "read " table); \
    Row row((query).get(), table);                           \
    __VA_ARGS__;                                             \
    if (row.error()) return *row.error();                    \
  }

#define SIMCORE_STORE_STMT(var, sql)    \
  auto var##_r = stmt(sql);             \
  if (!var##_r) return var##_r.error(); \
  sqlite3_stmt* var = *var##_r

core::Result<core::Model> Store::load_model() {
  core::Model m;
  {
    SIMCORE_STORE_STMT(st, "SELECT id, name, apn, isolation, vlan FROM networks ORDER BY id");
    Query q(st);
    SIMCORE_STORE_EACH(q, "networks", {
      core::Network n;
      n.id = core::NetworkId{row.uint<uint32_t>(0)};
      n.name = row.str(1);
      n.apn = row.str(2);
      n.isolation = row.flag(3);
      n.vlan = row.uint<uint16_t>(4);
      m.networks.emplace(n.id, std::move(n));
    });
  }
  // Children arrive ordered by (network, pos); the foreign keys guarantee the parent exists,
  // but a hand-edited file might not, hence the check.
  auto parent = [&m](Row& row, int c) -> core::Network* {
    auto it = m.networks.find(core::NetworkId{row.uint<uint32_t>(c)});
    if (it == m.networks.end()) {
      row.fail(c, "no such network");
      return nullptr;
    }
    return &it->second;
  };
  {
    SIMCORE_STORE_STMT(st, "SELECT network_id, id, cidr FROM ip_pools ORDER BY network_id, pos");
    Query q(st);
    SIMCORE_STORE_EACH(q, "ip_pools", {
      if (core::Network* n = parent(row, 0)) {
        n->pools.push_back({core::PoolId{row.uint<uint32_t>(1)}, row.cidr(2)});
      }
    });
  }
  {
    SIMCORE_STORE_STMT(st,
                       "SELECT network_id, id, name, peer, local_subnets, remote_subnets,"
                       " ike_proposals, esp_proposals, pre_shared_key, dpd_seconds, initiator"
                       " FROM ipsec_tunnels ORDER BY network_id, pos");
    Query q(st);
    SIMCORE_STORE_EACH(q, "ipsec_tunnels", {
      core::IpsecTunnel t;
      t.id = core::TunnelId{row.uint<uint32_t>(1)};
      t.name = row.str(2);
      t.peer = row.ipv4(3);
      t.local_subnets = row.cidrs(4);
      t.remote_subnets = row.cidrs(5);
      t.ike_proposals = row.strings(6);
      t.esp_proposals = row.strings(7);
      t.pre_shared_key = row.str(8);
      t.dpd_seconds = row.uint<uint32_t>(9);
      t.initiator = row.flag(10);
      if (core::Network* n = parent(row, 0)) n->tunnels.push_back(std::move(t));
    });
  }
  {
    SIMCORE_STORE_STMT(st,
                       "SELECT network_id, id, destination, target, tunnel_id FROM routes"
                       " ORDER BY network_id, pos");
    Query q(st);
    SIMCORE_STORE_EACH(q, "routes", {
      core::Route r;
      r.id = core::RouteId{row.uint<uint32_t>(1)};
      r.destination = row.cidr(2);
      r.target = row.parsed<core::RouteTarget>(3, core::parse_route_target, "unknown target");
      if (!row.is_null(4)) r.tunnel = core::TunnelId{row.uint<uint32_t>(4)};
      if (core::Network* n = parent(row, 0)) n->routes.push_back(r);
    });
  }
  {
    SIMCORE_STORE_STMT(st,
                       "SELECT network_id, id, protocol, public_ip, public_port, thing_id,"
                       " thing_port FROM nat_rules ORDER BY network_id, pos");
    Query q(st);
    SIMCORE_STORE_EACH(q, "nat_rules", {
      core::NatRule r;
      r.id = core::NatRuleId{row.uint<uint32_t>(1)};
      const int64_t proto = row.i64(2);
      if (proto != 6 && proto != 17) row.fail(2, "not TCP or UDP");
      r.protocol = static_cast<core::Protocol>(proto);
      r.public_ip = row.ipv4(3);
      r.public_port = row.uint<uint16_t>(4);
      r.thing = core::ThingId{row.u64(5)};
      r.thing_port = row.uint<uint16_t>(6);
      if (core::Network* n = parent(row, 0)) n->nat_rules.push_back(r);
    });
  }
  {
    SIMCORE_STORE_STMT(st,
                       "SELECT id, name, inbound_default, outbound_default, stateful"
                       " FROM ip_profiles ORDER BY id");
    Query q(st);
    SIMCORE_STORE_EACH(q, "ip_profiles", {
      core::IpProfile p;
      p.id = core::ProfileId{row.uint<uint32_t>(0)};
      p.name = row.str(1);
      p.inbound.default_action = row.parsed<core::Action>(2, core::parse_action, "bad action");
      p.outbound.default_action = row.parsed<core::Action>(3, core::parse_action, "bad action");
      p.stateful = row.flag(4);
      m.profiles.emplace(p.id, std::move(p));
    });
  }
  {
    SIMCORE_STORE_STMT(st,
                       "SELECT profile_id, chain, id, priority, action, protocol, remote,"
                       " remote_port_lo, remote_port_hi, local_port_lo, local_port_hi"
                       " FROM firewall_rules ORDER BY profile_id, chain, pos");
    Query q(st);
    SIMCORE_STORE_EACH(q, "firewall_rules", {
      core::FirewallRule r;
      r.id = core::RuleId{row.uint<uint32_t>(2)};
      r.priority = row.uint<uint32_t>(3);
      r.action = row.parsed<core::Action>(4, core::parse_action, "bad action");
      const int64_t proto = row.i64(5);
      if (!valid_protocol(proto)) row.fail(5, "unknown protocol");
      r.protocol = static_cast<core::Protocol>(proto);
      r.remote = row.cidr(6);
      r.remote_ports = {row.uint<uint16_t>(7), row.uint<uint16_t>(8)};
      r.local_ports = {row.uint<uint16_t>(9), row.uint<uint16_t>(10)};
      auto it = m.profiles.find(core::ProfileId{row.uint<uint32_t>(0)});
      if (it == m.profiles.end()) {
        row.fail(0, "no such IP profile");
      } else {
        (row.str(1) == "inbound" ? it->second.inbound : it->second.outbound).rules.push_back(r);
      }
    });
  }
  {
    SIMCORE_STORE_STMT(st,
                       "SELECT id, name, network_id, profile_id, svc_data, svc_sms, is_default"
                       " FROM things_groups ORDER BY id");
    Query q(st);
    SIMCORE_STORE_EACH(q, "things_groups", {
      core::ThingsGroup g;
      g.id = core::GroupId{row.uint<uint32_t>(0)};
      g.name = row.str(1);
      g.network = core::NetworkId{row.uint<uint32_t>(2)};
      g.profile = core::ProfileId{row.uint<uint32_t>(3)};
      g.services = {row.flag(4), row.flag(5)};
      g.is_default = row.flag(6);
      m.groups.emplace(g.id, std::move(g));
    });
  }
  {
    SIMCORE_STORE_STMT(st, "SELECT id, name, email, role, client_id FROM users ORDER BY id");
    Query q(st);
    SIMCORE_STORE_EACH(q, "users", {
      core::User u;
      u.id = core::UserId{row.uint<uint32_t>(0)};
      u.name = row.str(1);
      u.email = row.str(2);
      u.role = row.parsed<core::Role>(3, core::parse_role, "unknown role");
      u.client_id = row.str(4);
      m.users.emplace(u.id, std::move(u));
    });
  }
  {
    SIMCORE_STORE_STMT(st, "SELECT user_id, group_id FROM user_groups ORDER BY user_id, pos");
    Query q(st);
    SIMCORE_STORE_EACH(q, "user_groups", {
      auto it = m.users.find(core::UserId{row.uint<uint32_t>(0)});
      if (it == m.users.end())
        row.fail(0, "no such user");
      else
        it->second.groups.push_back(core::GroupId{row.uint<uint32_t>(1)});
    });
  }
  {
    SIMCORE_STORE_STMT(st,
                       "SELECT id, slot, iccid, imsi, msisdn, name, state, group_id, tags, imei,"
                       " imei_lock, ip_lock, locked_addr, svc_data, svc_sms, ue_addr,"
                       " uplink_teid, peer_addr, peer_teid, apn, rat, mcc, mnc"
                       " FROM things ORDER BY slot");
    Query q(st);
    SIMCORE_STORE_EACH(q, "things", {
      core::Thing& t = m.things.emplace_back();
      t.id = core::ThingId{row.u64(0)};
      t.slot = core::ThingSlot{row.uint<uint32_t>(1)};
      t.iccid = row.str(2);
      t.imsi = row.str(3);
      t.msisdn = row.str(4);
      t.name = row.str(5);
      t.state = row.parsed<core::ThingState>(6, core::parse_state, "unknown state");
      t.group = core::GroupId{row.uint<uint32_t>(7)};
      t.tags = row.strings(8);
      t.imei = row.str(9);
      t.imei_lock = row.flag(10);
      t.ip_lock = row.flag(11);
      if (!row.is_null(12)) t.locked_addr = row.ipv4(12);
      t.services = {row.flag(13), row.flag(14)};
      if (!row.is_null(15)) {
        core::Session& s = t.session.emplace();
        s.ue_addr = row.ipv4(15);
        s.uplink_teid = row.uint<uint32_t>(16);
        s.peer_addr = row.ipv4(17);
        s.peer_teid = row.uint<uint32_t>(18);
        s.apn = row.str(19);
        if (!valid_rat(row.i64(20))) row.fail(20, "unknown RAT");
        s.rat = static_cast<core::Rat>(row.i64(20));
        s.mcc = row.uint<uint16_t>(21);
        s.mnc = row.uint<uint16_t>(22);
      }
    });
  }
  return m;
}

core::Result<StoredUser> Store::get_user_by_client_id(std::string_view client_id) {
  StoredUser out;
  bool found = false;
  {
    SIMCORE_STORE_STMT(st,
                       "SELECT id, name, email, role, client_id, secret_hash FROM users"
                       " WHERE client_id = ?");
    Query q(st);
    q.text(client_id);
    SIMCORE_STORE_EACH(q, "users", {
      found = true;
      out.user.id = core::UserId{row.uint<uint32_t>(0)};
      out.user.name = row.str(1);
      out.user.email = row.str(2);
      out.user.role = row.parsed<core::Role>(3, core::parse_role, "unknown role");
      out.user.client_id = row.str(4);
      out.secret_hash = row.str(5);
    });
  }
  if (!found) return Error(Code::kNotFound, "store: no user with this client id");
  SIMCORE_STORE_STMT(st, "SELECT group_id FROM user_groups WHERE user_id = ? ORDER BY pos");
  Query q(st);
  q.i64(out.user.id.value);
  SIMCORE_STORE_EACH(q, "user_groups",
                     { out.user.groups.push_back(core::GroupId{row.uint<uint32_t>(0)}); });
  return out;
}

core::Result<std::optional<std::string>> Store::get_meta(std::string_view key) {
  SIMCORE_STORE_STMT(st, "SELECT value FROM account_meta WHERE key = ?");
  Query q(st);
  q.text(key);
  std::optional<std::string> value;
  SIMCORE_STORE_EACH(q, "account_meta", { value = row.str(0); });
  return value;
}

core::Result<std::vector<EventRecord>> Store::list_events(int64_t after_id, int limit,
                                                          const EventFilter& f) {
  std::vector<EventRecord> out;
  if (limit <= 0) return out;
  // Two statements so that a per-Thing listing walks the (thing_id, id) index instead of all
  // events; the other filters are "NULL matches all" parameters.
  SIMCORE_STORE_STMT(by_thing,
                     "SELECT id, time_ms, type, thing_id, detail FROM events"
                     " WHERE thing_id = ? AND id > ? AND (? IS NULL OR type = ?)"
                     " AND (? IS NULL OR time_ms >= ?) AND (? IS NULL OR time_ms < ?)"
                     " ORDER BY id LIMIT ?");
  SIMCORE_STORE_STMT(all,
                     "SELECT id, time_ms, type, thing_id, detail FROM events"
                     " WHERE id > ? AND (? IS NULL OR type = ?)"
                     " AND (? IS NULL OR time_ms >= ?) AND (? IS NULL OR time_ms < ?)"
                     " ORDER BY id LIMIT ?");
  Query q(f.thing ? by_thing : all);
  if (f.thing) q.u64(f.thing->value);
  q.i64(after_id);
  for (int i = 0; i < 2; ++i) q.opt(f.type, [](Query& b, const std::string& v) { b.text(v); });
  for (int i = 0; i < 2; ++i) q.opt(f.since_ms, [](Query& b, int64_t v) { b.i64(v); });
  for (int i = 0; i < 2; ++i) q.opt(f.until_ms, [](Query& b, int64_t v) { b.i64(v); });
  q.i64(limit);
  SIMCORE_STORE_EACH(q, "events", {
    EventRecord& e = out.emplace_back();
    e.id = row.i64(0);
    e.time_ms = row.i64(1);
    e.type = row.str(2);
    if (!row.is_null(3)) e.thing = core::ThingId{row.u64(3)};
    e.detail_json = row.str(4);
  });
  return out;
}

namespace {

void read_sms(Row& row, SmsRecord& s) {
  s.id = row.i64(0);
  s.thing = core::ThingId{row.u64(1)};
  const std::string dir = row.str(2);
  if (dir != "MT" && dir != "MO") row.fail(2, "not MT or MO");
  s.direction = dir == "MO" ? SmsDirection::kMo : SmsDirection::kMt;
  s.text = row.str(3);
  const std::string status = row.str(4);
  bool known = false;
  for (size_t i = 0; i < std::size(kSmsStatusNames); ++i) {
    if (status == kSmsStatusNames[i]) {
      s.status = static_cast<SmsStatus>(i);
      known = true;
    }
  }
  if (!known) row.fail(4, "unknown status");
  s.created_ms = row.i64(5);
  s.updated_ms = row.i64(6);
  s.validity_s = row.i64(7);
}

void read_job(Row& row, JobRecord& j) {
  j.id = row.i64(0);
  j.kind = row.str(1);
  j.status = row.str(2);
  j.request_json = row.str(3);
  j.result_json = row.str(4);
  j.created_ms = row.i64(5);
  j.updated_ms = row.i64(6);
}

}  // namespace

core::Result<SmsRecord> Store::get_sms(int64_t id) {
  SIMCORE_STORE_STMT(st,
                     "SELECT id, thing_id, direction, text, status, created_ms, updated_ms,"
                     " validity_s FROM sms WHERE id = ?");
  Query q(st);
  q.i64(id);
  std::optional<SmsRecord> out;
  SIMCORE_STORE_EACH(q, "sms", { read_sms(row, out.emplace()); });
  if (!out) return Error(Code::kNotFound, "store: no sms " + std::to_string(id));
  return *out;
}

core::Result<std::vector<SmsRecord>> Store::list_sms(int64_t after_id, int limit,
                                                     std::optional<core::ThingId> thing,
                                                     std::optional<SmsStatus> status) {
  std::vector<SmsRecord> out;
  if (limit <= 0) return out;
  SIMCORE_STORE_STMT(by_thing,
                     "SELECT id, thing_id, direction, text, status, created_ms, updated_ms,"
                     " validity_s FROM sms WHERE thing_id = ? AND id > ?"
                     " AND (? IS NULL OR status = ?) ORDER BY id LIMIT ?");
  SIMCORE_STORE_STMT(all,
                     "SELECT id, thing_id, direction, text, status, created_ms, updated_ms,"
                     " validity_s FROM sms WHERE id > ?"
                     " AND (? IS NULL OR status = ?) ORDER BY id LIMIT ?");
  Query q(thing ? by_thing : all);
  if (thing) q.u64(thing->value);
  q.i64(after_id);
  for (int i = 0; i < 2; ++i) {
    q.opt(status, [](Query& b, SmsStatus v) { b.text(sms_status_name(v)); });
  }
  q.i64(limit);
  SIMCORE_STORE_EACH(q, "sms", { read_sms(row, out.emplace_back()); });
  return out;
}

namespace {

// SmsFilter's conditions after the Thing's, bound by bind_sms_filter in this order. A GROUP_USER's
// groups arrive as one JSON array, so one cached statement serves any number of groups.
#define SIMCORE_SMS_FILTER                                                            \
  " AND (? IS NULL OR status = ?) AND (? IS NULL OR direction = ?) AND (? IS NULL OR" \
  " thing_id IN (SELECT id FROM things WHERE group_id IN (SELECT value FROM json_each(?))))"

void bind_sms_filter(Query& q, const SmsFilter& f) {
  if (f.thing) q.u64(f.thing->value);
  for (int i = 0; i < 2; ++i) {
    q.opt(f.status, [](Query& b, SmsStatus v) { b.text(sms_status_name(v)); });
  }
  for (int i = 0; i < 2; ++i) {
    q.opt(f.direction,
          [](Query& b, SmsDirection v) { b.text(v == SmsDirection::kMo ? "MO" : "MT"); });
  }
  std::optional<std::string> groups;
  if (f.groups) {
    groups = "[";
    for (core::GroupId g : *f.groups) {
      *groups += (groups->size() > 1 ? "," : "") + std::to_string(g.value);
    }
    *groups += "]";
  }
  for (int i = 0; i < 2; ++i) q.opt(groups, [](Query& b, const std::string& v) { b.text(v); });
}

}  // namespace

core::Result<int64_t> Store::count_sms(const SmsFilter& f) {
  // Two statements so that a per-Thing count walks the (thing_id, id) index.
  SIMCORE_STORE_STMT(by_thing, "SELECT count(*) FROM sms WHERE thing_id = ?" SIMCORE_SMS_FILTER);
  SIMCORE_STORE_STMT(all, "SELECT count(*) FROM sms WHERE 1" SIMCORE_SMS_FILTER);
  Query q(f.thing ? by_thing : all);
  bind_sms_filter(q, f);
  int64_t n = 0;
  SIMCORE_STORE_EACH(q, "sms", { n = row.i64(0); });
  return n;
}

core::Result<std::vector<SmsRecord>> Store::list_sms_newest(const SmsFilter& f, int64_t offset,
                                                            int limit) {
  std::vector<SmsRecord> out;
  if (limit <= 0) return out;
  SIMCORE_STORE_STMT(by_thing,
                     "SELECT id, thing_id, direction, text, status, created_ms, updated_ms,"
                     " validity_s FROM sms WHERE thing_id = ?" SIMCORE_SMS_FILTER
                     " ORDER BY id DESC LIMIT ? OFFSET ?");
  SIMCORE_STORE_STMT(all,
                     "SELECT id, thing_id, direction, text, status, created_ms, updated_ms,"
                     " validity_s FROM sms WHERE 1" SIMCORE_SMS_FILTER
                     " ORDER BY id DESC LIMIT ? OFFSET ?");
  Query q(f.thing ? by_thing : all);
  bind_sms_filter(q, f);
  q.i64(limit).i64(offset);
  SIMCORE_STORE_EACH(q, "sms", { read_sms(row, out.emplace_back()); });
  return out;
}

#undef SIMCORE_SMS_FILTER

core::Result<std::vector<UsageDay>> Store::list_usage(std::string_view from_day,
                                                      std::string_view to_day,
                                                      std::optional<core::ThingId> thing) {
  SIMCORE_STORE_STMT(by_thing,
                     "SELECT thing_id, day, bytes_up, bytes_down, sms_count FROM usage_daily"
                     " WHERE thing_id = ? AND day BETWEEN ? AND ? ORDER BY day");
  SIMCORE_STORE_STMT(all,
                     "SELECT thing_id, day, bytes_up, bytes_down, sms_count FROM usage_daily"
                     " WHERE day BETWEEN ? AND ? ORDER BY thing_id, day");
  Query q(thing ? by_thing : all);
  if (thing) q.u64(thing->value);
  q.text(from_day).text(to_day);
  std::vector<UsageDay> out;
  SIMCORE_STORE_EACH(q, "usage_daily", {
    UsageDay& d = out.emplace_back();
    d.thing = core::ThingId{row.u64(0)};
    d.day = row.str(1);
    d.bytes_up = row.u64(2);
    d.bytes_down = row.u64(3);
    d.sms_count = row.u64(4);
  });
  return out;
}

core::Result<JobRecord> Store::get_job(int64_t id) {
  SIMCORE_STORE_STMT(st,
                     "SELECT id, kind, status, request, result, created_ms, updated_ms"
                     " FROM jobs WHERE id = ?");
  Query q(st);
  q.i64(id);
  std::optional<JobRecord> out;
  SIMCORE_STORE_EACH(q, "jobs", { read_job(row, out.emplace()); });
  if (!out) return Error(Code::kNotFound, "store: no job " + std::to_string(id));
  return *out;
}

core::Result<std::vector<JobRecord>> Store::list_jobs(int64_t after_id, int limit,
                                                      std::optional<std::string> kind) {
  std::vector<JobRecord> out;
  if (limit <= 0) return out;
  SIMCORE_STORE_STMT(st,
                     "SELECT id, kind, status, request, result, created_ms, updated_ms"
                     " FROM jobs WHERE id > ? AND (? IS NULL OR kind = ?) ORDER BY id LIMIT ?");
  Query q(st);
  q.i64(after_id);
  for (int i = 0; i < 2; ++i) q.opt(kind, [](Query& b, const std::string& v) { b.text(v); });
  q.i64(limit);
  SIMCORE_STORE_EACH(q, "jobs", { read_job(row, out.emplace_back()); });
  return out;
}

#undef SIMCORE_STORE_STMT
#undef SIMCORE_STORE_EACH

}  // namespace simcore::ctl
