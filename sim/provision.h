// sim/provision.h — creates an account's desired state (core::Model, as ctl::load_account_yaml
// returns it) in a running simcored through its public HTTP API, the way a customer would.
//
// Order: GET the networks, IP Profiles and Things Groups the daemon has; IP Profiles; networks
// with their pools, IPsec tunnels and routes (routes name tunnels); Things Groups; Things, in
// bulk POSTs of up to 10,000 (and 1 MiB); NAT rules last, as they name Things by the id the
// daemon assigned. An object whose name the daemon already has is updated (PATCH, only when it
// differs) instead of created: that is how the shipped "Default network", "Default profile" and
// the default group (matched by isDefault, whatever its name) are reused. A reused network gets
// the pools, tunnels, routes and NAT rules of the model it lacks; what it has beyond the model
// stays. A 429 is retried after its Retry-After (a few times); any other non-2xx answer stops
// the run with an error naming the request and quoting the server's error body. What was created
// before the failure stays (the API has no transaction across requests).
//
// What the API cannot express, and what happens to it:
//   - sessions (`attached:` in an account file): attaches come from GTP-C, not the API. Not
//     created; counted in Provisioned::sessions_not_created and named in `notes`.
//   - a Thing's last-seen IMEI (`imei:`): read-only at the API, learnt at attach; with imeiLock
//     the lock binds to the first device that attaches. Counted and noted likewise.
//   - a Thing's lifecycle path (`state: [ACTIVE, SUSPENDED]`): the model keeps the final state,
//     which the bulk POST sets directly; the daemon's event log shows no transitions.
//   - the apnName of a network that already exists (read-only): an error when it differs.
//   - users: an error (POST /users issues new client credentials; that is not provisioning).
// Ids differ from the model's: the daemon assigns them; Provisioned maps names to them.
//
// Control thread; blocking; every request bounded by the HTTP client's timeout (10 s).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/account.h"
#include "core/result.h"
#include "sim/http_client.h"

namespace simcore::sim {

struct ApiTarget {
  Endpoint endpoint;                                   // simcored's API listener
  std::string prefix = "/iot/jpu/iotprogrammablesim";  // the daemon's api prefix
  std::string token;                                   // a bearer token (fetch_token) of an ADMIN
};

struct Provisioned {
  size_t requests = 0;     // HTTP requests sent (not the token's), 429 retries included
  size_t connections = 0;  // TCP connections they used
  size_t things = 0;       // Things created
  // Name → the daemon's id ("42"); Things by ICCID.
  std::map<std::string, std::string> network_ids, profile_ids, group_ids, thing_ids;
  size_t sessions_not_created = 0;  // the model's open sessions (see above)
  size_t imeis_not_set = 0;         // the model's last-seen IMEIs (see above)
  std::vector<std::string> notes;   // one line per kind of thing the API could not take
};

// Provisions `model` into the daemon at `api`. Fails kInvalidArgument before any request when
// the model has users; otherwise with the daemon's error, mapped back from its `code` (409
// ALREADY_EXISTS → kAlreadyExists, ...), or the transport's (kUnavailable).
core::Result<Provisioned> provision(const core::Model& model, const ApiTarget& api);

// Returns a bearer token from POST /oauth/client_credential/accesstoken (outside the API
// prefix). Wrong credentials: kUnauthenticated naming the endpoint.
core::Result<std::string> fetch_token(const Endpoint& endpoint, std::string_view client_id,
                                      std::string_view client_secret);

}  // namespace simcore::sim
