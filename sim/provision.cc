#include "sim/provision.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <exception>
#include <initializer_list>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "control/api/json_model.h"

namespace simcore::sim {
namespace {

namespace json = boost::json;
namespace api = ctl::api;
using core::Code;
using core::Error;
using core::Result;
using core::Status;

// The daemon's limits: items per POST /things (API.md), and a body size under its transport's
// default limit (simcored's own is 4 MiB), so a Thing with many tags cannot make a batch a 413.
constexpr size_t kMaxThingsPerPost = api::kMaxThingsPerRequest;
constexpr size_t kMaxBodyBytes = 1 << 20;
constexpr size_t kPageSize = 1000;  // the API's maximum `limit`
// A 429 is the per-client rate limit (200/s, burst 400 by default): waiting is the remedy.
constexpr int kMaxRateLimitRetries = 5;
constexpr int kMaxRetryAfterS = 10;
// Enough of an error body to hold every field error of a batch without flooding a log.
constexpr size_t kMaxQuotedBody = 4000;

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// The daemon's error `code` is core's code name (http/errors.cc) or a more specific API code;
// the status decides for the latter.
Code code_of(unsigned status, std::string_view name) {
  for (int c = 0; c <= static_cast<int>(Code::kInternal); ++c) {
    if (name == core::code_name(static_cast<Code>(c))) return static_cast<Code>(c);
  }
  switch (status) {
    case 400: return Code::kInvalidArgument;
    case 401: return Code::kUnauthenticated;
    case 403: return Code::kPermissionDenied;
    case 404: return Code::kNotFound;
    case 409: return Code::kConflict;
    case 412: return Code::kFailedPrecondition;
    case 429:
    case 503: return Code::kUnavailable;
    default: return Code::kInternal;
  }
}

// Returns an error naming the request and quoting the daemon's error body.
Error reply_error(std::string_view method, const std::string& target, const std::string& what,
                  const HttpReply& r) {
  std::string code_name;
  boost::system::error_code ec;
  const json::value v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (const json::value* c = v.get_object().if_contains("code"); c && c->is_string()) {
      code_name = std::string(c->get_string());
    }
  }
  std::string body = r.body.substr(0, kMaxQuotedBody);
  if (r.body.size() > kMaxQuotedBody) body += "...";
  return Error(code_of(r.status, code_name), std::string(method) + " " + target +
                                                 (what.empty() ? "" : " (" + what + ")") +
                                                 ": HTTP " + std::to_string(r.status) + ": " +
                                                 (body.empty() ? "(no body)" : body));
}

// Boost.JSON keeps non-negative numbers it parses as int64 and unsigned ones we build as uint64.
bool same_scalar(const json::value& have, const json::value& want) {
  if (have.is_int64() && want.is_uint64()) {
    return have.get_int64() >= 0 && static_cast<uint64_t>(have.get_int64()) == want.get_uint64();
  }
  if (have.is_uint64() && want.is_int64()) return same_scalar(want, have);
  return have == want;
}

// True when every field of `want` has the same value in `have` (an object the daemon shows, with
// read-only fields such as ids that `want` lacks). Arrays must match item by item.
bool covers(const json::value& have, const json::value& want) {
  if (const json::object* w = want.if_object()) {
    const json::object* h = have.if_object();
    if (!h) return false;
    return std::all_of(w->begin(), w->end(), [h](const json::key_value_pair& kv) {
      const json::value* x = h->if_contains(kv.key());
      return x && covers(*x, kv.value());
    });
  }
  if (const json::array* w = want.if_array()) {
    const json::array* h = have.if_array();
    if (!h || h->size() != w->size()) return false;
    for (size_t i = 0; i < w->size(); ++i) {
      if (!covers((*h)[i], (*w)[i])) return false;
    }
    return true;
  }
  return same_scalar(have, want);
}

// Returns the object GET shows for `v` (api::to_json, the API's single definition of the
// shapes) as a request body: without the read-only keys `drop` and without nulls.
json::object body_from(json::value v, std::initializer_list<std::string_view> drop) {
  json::object o = std::move(v.as_object());
  for (std::string_view k : drop) o.erase(k);
  for (auto it = o.begin(); it != o.end();) {
    it = it->value().is_null() ? o.erase(it) : std::next(it);
  }
  return o;
}

std::string id_of(const json::value& v, std::string_view key = "id") {
  if (const json::object* o = v.if_object()) {
    if (const json::value* id = o->if_contains(key); id && id->is_string()) {
      return std::string(id->get_string());
    }
  }
  return {};
}

std::string url_encoded(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The API under the prefix, with the caller's token, over one kept-alive connection.
class Api {
 public:
  explicit Api(const ApiTarget& t) : client_(t.endpoint), prefix_(t.prefix), token_(t.token) {}

  // Sends `body` (none when null) to prefix + path; returns the answer's JSON (null for an empty
  // answer). `what` names the object in errors.
  Result<json::value> call(std::string_view method, const std::string& path,
                           const json::value* body = nullptr, const std::string& what = "") {
    const std::string target = prefix_ + path;
    const std::string text = body ? json::serialize(*body) : std::string();
    for (int attempt = 0;; ++attempt) {
      ++requests_;
      Result<HttpReply> r = client_.request(method, target, text, token_);
      if (!r) return r.error();
      if (r->status == 429 && attempt < kMaxRateLimitRetries) {
        int wait_s = 1;
        const std::string_view ra = r->header("Retry-After");
        (void)std::from_chars(ra.data(), ra.data() + ra.size(), wait_s);
        std::this_thread::sleep_for(std::chrono::seconds(std::clamp(wait_s, 1, kMaxRetryAfterS)));
        continue;
      }
      if (r->status / 100 != 2) return reply_error(method, target, what, *r);
      if (r->body.empty()) return json::value(nullptr);
      boost::system::error_code ec;
      json::value v = json::parse(r->body, ec);
      if (ec) {
        return Error(Code::kInternal, std::string(method) + " " + target +
                                          ": the answer is not JSON: " + ec.message());
      }
      return v;
    }
  }

  // GETs every page of a list.
  Result<json::array> list(const std::string& path) {
    json::array all;
    for (size_t offset = 0;;) {
      Result<json::value> page = call("GET", path + "?limit=" + std::to_string(kPageSize) +
                                                 "&offset=" + std::to_string(offset));
      if (!page) return page.error();
      json::array* items = page->if_array();
      if (!items) {
        return Error(Code::kInternal, "GET " + prefix_ + path + ": the answer is not a list");
      }
      const size_t n = items->size();
      for (json::value& v : *items) all.push_back(std::move(v));
      if (n < kPageSize) return all;
      offset += n;
    }
  }

  const std::string& prefix() const noexcept { return prefix_; }
  size_t requests() const noexcept { return requests_; }
  size_t connections() const noexcept { return client_.connections(); }

 private:
  HttpClient client_;
  std::string prefix_;
  std::string token_;
  size_t requests_ = 0;
};

// What the daemon has of one kind, by name.
struct Existing {
  std::map<std::string, json::value, std::less<>> by_name;
  json::value default_group;  // groups only: the one with isDefault
};

Existing index(const json::array& items) {
  Existing e;
  for (const json::value& v : items) {
    const json::object* o = v.if_object();
    if (!o) continue;
    if (const json::value* n = o->if_contains("name"); n && n->is_string()) {
      e.by_name.emplace(std::string(n->get_string()), v);
    }
    if (const json::value* d = o->if_contains("isDefault"); d && d->is_bool() && d->get_bool()) {
      e.default_group = v;
    }
  }
  return e;
}

const json::value* find(const Existing& e, const std::string& name) {
  auto it = e.by_name.find(name);
  return it == e.by_name.end() ? nullptr : &it->second;
}

class Provisioner {
 public:
  Provisioner(const core::Model& m, const ApiTarget& t) : model_(m), api_(t) {}

  Result<Provisioned> run() {
    if (!model_.users.empty()) {
      return Error::invalid("users", std::to_string(model_.users.size()) +
                                         " users: not provisioned (POST /users issues new client "
                                         "credentials; create users with the API yourself)");
    }
    note_what_the_api_cannot_take();
    if (Status s = read_existing(); !s) return s.error();
    if (Status s = check_read_only(); !s) return s.error();
    for (const auto& [id, p] : model_.profiles) {
      if (Status s = profile(p); !s) return s.error();
    }
    for (const auto& [id, n] : model_.networks) {
      if (Status s = network(n); !s) return s.error();
    }
    for (const auto& [id, g] : model_.groups) {
      if (Status s = group(g); !s) return s.error();
    }
    if (Status s = things(); !s) return s.error();
    for (const auto& [id, n] : model_.networks) {
      if (Status s = nat_rules(n); !s) return s.error();
    }
    out_.requests = api_.requests();
    out_.connections = api_.connections();
    return std::move(out_);
  }

 private:
  void note_what_the_api_cannot_take() {
    for (const core::Thing& t : model_.things) {
      out_.sessions_not_created += t.session ? 1 : 0;
      out_.imeis_not_set += t.imei.empty() ? 0 : 1;
    }
    if (out_.sessions_not_created) {
      out_.notes.push_back(std::to_string(out_.sessions_not_created) +
                           " sessions not created: sessions come from GTP-C attach, not from the "
                           "API (their Things are provisioned in their state)");
    }
    if (out_.imeis_not_set) {
      out_.notes.push_back(std::to_string(out_.imeis_not_set) +
                           " IMEIs not set: a Thing's IMEI is read-only at the API and learnt at "
                           "attach (an IMEI lock binds to the first device that attaches)");
    }
  }

  Status read_existing() {
    for (auto [path, into] :
         {std::pair{"/networks", &networks_}, std::pair{"/ipprofiles", &profiles_},
          std::pair{"/thingsgroups", &groups_}}) {
      Result<json::array> items = api_.list(path);
      if (!items) return items.error();
      *into = index(*items);
    }
    return Status::Ok();
  }

  // Fails before anything is written when the model asks for what the API cannot change.
  Status check_read_only() {
    for (const auto& [id, n] : model_.networks) {
      const json::value* have = find(networks_, n.name);
      if (!have) continue;
      const json::value* apn = have->as_object().if_contains("apnName");
      if (apn && apn->is_string() && std::string_view(apn->get_string()) != n.apn) {
        return Error(Code::kFailedPrecondition,
                     "network " + quoted(n.name) + " exists with APN " + quoted(apn->get_string()) +
                         ", the model's is " + quoted(n.apn) + ": apnName is read-only at the API");
      }
    }
    return Status::Ok();
  }

  // Creates the object at `collection`, or PATCHes the existing one when it differs; returns
  // its id.
  Result<std::string> put(const std::string& collection, const json::value* have,
                          const json::object& body, const json::object& patch,
                          const std::string& what) {
    if (have) {
      const std::string id = id_of(*have);
      if (!covers(*have, body)) {
        const json::value p = patch;
        Result<json::value> r = api_.call("PATCH", collection + "/" + id, &p, what);
        if (!r) return r.error();
      }
      return id;
    }
    const json::value b = body;
    Result<json::value> r = api_.call("POST", collection, &b, what);
    if (!r) return r.error();
    std::string id = id_of(*r);
    if (id.empty()) return missing_id("POST", collection, what);
    return id;
  }

  Error missing_id(std::string_view method, const std::string& path, const std::string& what) {
    return Error(Code::kInternal, std::string(method) + " " + api_.prefix() + path + " (" + what +
                                      "): the answer has no id");
  }

  Status profile(const core::IpProfile& p) {
    json::object body = body_from(api::to_json(p), {"id"});
    for (const char* chain : {"inbound", "outbound"}) {
      for (json::value& rule : body.at(chain).as_object().at("rules").as_array()) {
        rule.as_object().erase("id");  // assigned by the daemon
      }
    }
    Result<std::string> id =
        put("/ipprofiles", find(profiles_, p.name), body, body, "IP profile " + quoted(p.name));
    if (!id) return id.error();
    profile_ids_[p.id] = *id;
    out_.profile_ids[p.name] = *id;
    return Status::Ok();
  }

  Status network(const core::Network& n) {
    const std::string what = "network " + quoted(n.name);
    const json::value* have = find(networks_, n.name);
    const json::object body = body_from(api::to_json(n), {"id"});
    json::object patch = body;
    patch.erase("apnName");  // read-only; check_read_only made sure it is the same
    Result<std::string> id = put("/networks", have, body, patch, what);
    if (!id) return id.error();
    network_ids_[n.id] = *id;
    out_.network_ids[n.name] = *id;
    if (have) reused_networks_.insert(n.id);
    const std::string base = "/networks/" + *id;

    std::vector<json::object> pools;
    for (const core::IpPool& p : n.pools) pools.push_back(body_from(api::to_json(p), {"id"}));
    if (Status s = children(n, base + "/ippools", pools, what + " pool", nullptr); !s) return s;

    std::vector<json::object> tunnels;
    for (const core::IpsecTunnel& t : n.tunnels) {
      json::object b = body_from(api::to_json(t), {"id"});
      b["preSharedKey"] = t.pre_shared_key;  // write-only: to_json never shows it
      tunnels.push_back(std::move(b));
    }
    std::vector<std::string> tunnel_ids;
    if (Status s =
            children(n, base + "/ipsectunnels", tunnels, what + " IPsec tunnel", &tunnel_ids);
        !s) {
      return s;
    }
    for (size_t i = 0; i < n.tunnels.size(); ++i) tunnel_ids_[n.tunnels[i].id] = tunnel_ids[i];

    std::vector<json::object> routes;
    for (const core::Route& r : n.routes) {
      json::object b = body_from(api::to_json(r), {"id", "tunnelId"});
      if (r.target == core::RouteTarget::kIpsecTunnel) b["tunnelId"] = tunnel_ids_.at(r.tunnel);
      routes.push_back(std::move(b));
    }
    return children(n, base + "/routes", routes, what + " route", nullptr);
  }

  // Makes sure each of `want` exists under `collection`: a network the daemon already had may
  // hold some of them (its shipped pool). Returns the ids in `ids` when asked.
  Status children(const core::Network& n, const std::string& collection,
                  const std::vector<json::object>& want, const std::string& what,
                  std::vector<std::string>* ids) {
    if (want.empty()) return Status::Ok();
    json::array have;
    if (reused_networks_.count(n.id)) {
      Result<json::array> r = api_.list(collection);
      if (!r) return r.error();
      have = std::move(*r);
    }
    for (size_t i = 0; i < want.size(); ++i) {
      // A tunnel's key is write-only: compare what the daemon shows.
      json::object visible = want[i];
      visible.erase("preSharedKey");
      auto same = std::find_if(have.begin(), have.end(),
                               [&](const json::value& h) { return covers(h, visible); });
      std::string id;
      if (same != have.end()) {
        id = id_of(*same);
      } else {
        const json::value b = want[i];
        const std::string label =
            what + " " + std::to_string(i + 1) + " of " + std::to_string(want.size());
        Result<json::value> r = api_.call("POST", collection, &b, label);
        if (!r) return r.error();
        id = id_of(*r);
        if (id.empty()) return missing_id("POST", collection, label);
      }
      if (ids) ids->push_back(std::move(id));
    }
    return Status::Ok();
  }

  Status group(const core::ThingsGroup& g) {
    json::object body = body_from(api::to_json(g), {"id", "isDefault"});
    body["networkId"] = network_ids_.at(g.network);
    body["ipProfileId"] = profile_ids_.at(g.profile);
    // The default group is the daemon's own, whatever either side calls it.
    const json::value* have = g.is_default && !groups_.default_group.is_null()
                                  ? &groups_.default_group
                                  : find(groups_, g.name);
    Result<std::string> id =
        put("/thingsgroups", have, body, body, "things group " + quoted(g.name));
    if (!id) return id.error();
    group_ids_[g.id] = *id;
    out_.group_ids[g.name] = *id;
    return Status::Ok();
  }

  Status things() {
    const std::vector<core::Thing>& all = model_.things;
    json::array batch;
    std::vector<size_t> slots;  // model index of each batch item
    size_t bytes = 0;
    for (size_t i = 0; i <= all.size(); ++i) {
      json::object item;
      size_t size = 0;
      if (i < all.size()) {
        item = body_from(api::to_json(all[i]), {"thingId", "imei"});
        item["thingsGroupId"] = group_ids_.at(all[i].group);
        size = json::serialize(item).size() + 1;
      }
      const bool full = batch.size() == kMaxThingsPerPost || bytes + size > kMaxBodyBytes;
      if (!batch.empty() && (i == all.size() || full)) {
        if (Status s = post_things(batch, slots); !s) return s;
        batch.clear();
        slots.clear();
        bytes = 0;
      }
      if (i == all.size()) break;
      batch.push_back(std::move(item));
      slots.push_back(i);
      bytes += size;
    }
    return Status::Ok();
  }

  Status post_things(json::array& batch, const std::vector<size_t>& slots) {
    const std::string what = "things " + std::to_string(out_.things + 1) + " to " +
                             std::to_string(out_.things + batch.size()) + " of " +
                             std::to_string(model_.things.size());
    const json::value body = json::object{{"things", std::move(batch)}};
    Result<json::value> r = api_.call("POST", "/things", &body, what);
    if (!r) return with_iccids(r.error(), slots);
    const json::array* created = r->if_array();
    if (!created || created->size() != slots.size()) {
      return Error(Code::kInternal, "POST " + api_.prefix() + "/things (" + what +
                                        "): the answer does not list the created Things");
    }
    for (size_t k = 0; k < slots.size(); ++k) {
      const core::Thing& t = model_.things[slots[k]];
      std::string id = id_of((*created)[k], "thingId");
      if (id.empty()) return missing_id("POST", "/things", what);
      out_.thing_ids[t.iccid] = id;
      thing_ids_[t.id] = std::move(id);
    }
    out_.things += slots.size();
    return Status::Ok();
  }

  // The daemon blames batch items by index ("things[12].iccid"); adds which Things those are.
  Error with_iccids(const Error& e, const std::vector<size_t>& slots) {
    std::string extra;
    size_t named = 0;
    for (size_t pos = e.message().find("\"things["); pos != std::string::npos && named < 5;
         pos = e.message().find("\"things[", pos + 1)) {
      size_t k = 0;
      const char* first = e.message().data() + pos + 8;
      auto [end, ec] = std::from_chars(first, e.message().data() + e.message().size(), k);
      if (ec != std::errc() || *end != ']' || k >= slots.size()) continue;
      const std::string label = "things[" + std::to_string(k) + "]";
      if (extra.find(label) != std::string::npos) continue;
      extra += (extra.empty() ? "" : ", ") + label + " is ICCID " + model_.things[slots[k]].iccid;
      ++named;
    }
    if (extra.empty()) return e;
    return Error(e.code(), e.message() + " (" + extra + ")");
  }

  Status nat_rules(const core::Network& n) {
    std::vector<json::object> rules;
    for (const core::NatRule& r : n.nat_rules) {
      json::object b = body_from(api::to_json(r), {"id"});
      b["thingId"] = thing_ids_.at(r.thing);
      rules.push_back(std::move(b));
    }
    return children(n, "/networks/" + network_ids_.at(n.id) + "/natrules", rules,
                    "network " + quoted(n.name) + " NAT rule", nullptr);
  }

  const core::Model& model_;
  Api api_;
  Provisioned out_;
  Existing networks_, profiles_, groups_;
  std::map<core::NetworkId, std::string> network_ids_;
  std::map<core::ProfileId, std::string> profile_ids_;
  std::map<core::GroupId, std::string> group_ids_;
  std::map<core::TunnelId, std::string> tunnel_ids_;
  std::map<core::ThingId, std::string> thing_ids_;
  std::set<core::NetworkId> reused_networks_;
};

}  // namespace

Result<Provisioned> provision(const core::Model& model, const ApiTarget& api) {
  // Boost.JSON's checked accessors and allocation throw; a model that breaks its own invariants
  // (a group naming a network that is not there) throws std::out_of_range from map::at.
  try {
    return Provisioner(model, api).run();
  } catch (const std::exception& e) {
    return Error(Code::kInternal, std::string("provision: ") + e.what());
  }
}

Result<std::string> fetch_token(const Endpoint& endpoint, std::string_view client_id,
                                std::string_view client_secret) {
  const std::string target = "/oauth/client_credential/accesstoken?grant_type=client_credentials";
  try {
    HttpClient client(endpoint);
    Result<HttpReply> r = client.request(
        "POST", target,
        "client_id=" + url_encoded(client_id) + "&client_secret=" + url_encoded(client_secret), {},
        "application/x-www-form-urlencoded");
    if (!r) return r.error();
    if (r->status != 200) {
      return reply_error("POST", target, "client " + quoted(client_id), *r);
    }
    boost::system::error_code ec;
    const json::value v = json::parse(r->body, ec);
    const json::value* tok =
        !ec && v.is_object() ? v.get_object().if_contains("access_token") : nullptr;
    if (!tok || !tok->is_string() || tok->get_string().empty()) {
      return Error(Code::kInternal, "POST " + target + ": the answer has no access_token");
    }
    return std::string(tok->get_string());
  } catch (const std::exception& e) {
    return Error(Code::kInternal, "POST " + target + ": " + e.what());
  }
}

}  // namespace simcore::sim
