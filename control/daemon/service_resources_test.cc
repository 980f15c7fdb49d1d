// Network children (pools, routes, NAT rules, IPsec tunnels), users, events and the what-if
// call, through Service as a function: status codes, the fields errors name, what is published,
// and what survives a restart.
#include <gtest/gtest.h>

#include <set>

#include "control/daemon/service_test_support.h"
#include "control/store/store.h"

namespace simcore::ctl {
namespace {

namespace json = boost::json;
using http::Verb;
using testing::Reply;
using testing::ServiceHarness;

std::string str(const json::value& v, const char* key) {
  return std::string(v.at(key).as_string());
}

// Not Reply::json(): daemon_test_support.h defines another testing::Reply in this binary, and
// the linker may bind the call to that one's layout.
json::value body_of(const Reply& r) { return json::parse(r.body); }

// The fields a 4xx body blames.
std::set<std::string> fields_of(const Reply& r) {
  std::set<std::string> out;
  const json::value body = body_of(r);
  if (const json::value* f = body.as_object().if_contains("fields")) {
    for (const json::value& e : f->as_array()) out.insert(str(e, "field"));
  }
  return out;
}

class ResourcesTest : public ::testing::Test {
 protected:
  Reply call(Verb v, const std::string& path, const std::string& body = "",
             const std::string& token = "") {
    return h.call(v, path, body, token.empty() ? admin_ : token);
  }
  // A restart forgets every token (they live in memory), the harness's cached one too.
  void restart() {
    h.reopen();
    admin_ = h.token_for("admin", "0123456789abcdef");
  }
  // POSTs and returns the created resource; fails the test unless 201.
  json::value create(const std::string& path, const std::string& body) {
    const Reply r = call(Verb::post, path, body);
    EXPECT_EQ(r.status, 201) << path << ": " << r.body;
    return r.status == 201 ? body_of(r) : json::value(json::object{});
  }
  // The id of the shipped object in a list whose flag or name marks it.
  std::string shipped(const std::string& path, const char* name) {
    const json::value all = body_of(call(Verb::get, path));
    for (const json::value& x : all.as_array()) {
      if (str(x, "name") == name) return str(x, "id");
    }
    ADD_FAILURE() << "no " << name << " in " << path;
    return "";
  }
  std::string default_network() { return shipped("/networks", "Default network"); }
  std::string default_profile() { return shipped("/ipprofiles", "Default profile"); }
  std::string default_group() { return shipped("/thingsgroups", "Default group"); }

  // Provisions SIM number n with extra JSON members (",\"ipLock\":true"); returns its thingId.
  std::string provision(int n, const std::string& extra = "") {
    char iccid[32], imsi[32];
    std::snprintf(iccid, sizeof iccid, "89490000000000%05d", n);
    std::snprintf(imsi, sizeof imsi, "2620100000%05d", n);
    const Reply r = call(Verb::post, "/things",
                         std::string(R"({"things":[{"iccid":")") + iccid + R"(","imsi":")" + imsi +
                             "\"" + extra + "}]}");
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? str(body_of(r).as_array()[0], "thingId") : "";
  }
  void set_state(const std::string& thing, const char* state) {
    const Reply r = call(Verb::put, "/things/" + thing + "/state",
                         std::string(R"({"state":")") + state + "\"}");
    EXPECT_EQ(r.status, 200) << r.body;
  }
  // Creates a user and returns {id, token}.
  std::pair<std::string, std::string> user(const std::string& email, const char* role,
                                           const std::string& groups = "") {
    const json::value u =
        create("/users", R"({"name":"u","email":")" + email + R"(","role":")" + role + "\"" +
                             (groups.empty() ? "" : R"(,"thingsGroupIds":[)" + groups + "]") + "}");
    if (!u.as_object().contains("id")) return {};
    return {str(u, "id"), h.token_for(str(u, "clientId"), str(u, "clientSecret"))};
  }
  size_t published() const { return h.sink.generations.size(); }

  ServiceHarness h;
  std::string admin_;  // after restart(); "" is the harness's admin token
};

// ------------------------------------------------------------------------------- IP pools

TEST_F(ResourcesTest, PoolsResizeWithinLeasesAndDeleteOnlyWhenFree) {
  const std::string net =
      str(create("/networks", R"({"name":"lab","apnName":"lab.example"})"), "id");
  const std::string pools = "/networks/" + net + "/ippools";
  const Reply made = call(Verb::post, pools, R"({"cidr":"10.200.0.0/24"})");
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string pool = pools + "/" + str(body_of(made), "id");
  EXPECT_EQ(std::string(made.raw[http::bhttp::field::location]), testing::kApi + pool);

  const Reply got = call(Verb::get, pool);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(str(body_of(got), "cidr"), "10.200.0.0/24");
  EXPECT_EQ(call(Verb::get, pools + "/4711").status, 404);
  EXPECT_EQ(call(Verb::get, "/networks/4711/ippools/1").status, 404);
  EXPECT_EQ(call(Verb::patch, pools + "/4711", R"({"cidr":"10.201.0.0/24"})").status, 404);

  // A Thing of the network with a locked address inside the pool holds a lease.
  const std::string group =
      str(create("/thingsgroups", R"({"name":"lab","networkId":")" + net + R"(","ipProfileId":")" +
                                      default_profile() + "\"}"),
          "id");
  const std::string thing = provision(
      1, R"(,"thingsGroupId":")" + group + R"(","ipLock":true,"lockedAddress":"10.200.0.200")");

  const size_t before = published();
  Reply r = call(Verb::patch, pool, R"({"cidr":"10.64.0.0/16"})");  // the default pool's range
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(fields_of(r), std::set<std::string>{"cidr"});
  r = call(Verb::patch, pool, R"({"cidr":"not a prefix"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fields_of(r), std::set<std::string>{"cidr"});
  EXPECT_EQ(call(Verb::patch, pool, R"({"cidr":"10.200.0.0/25"})").status, 412);  // .200 leased
  EXPECT_EQ(call(Verb::delete_, pool).status, 412);
  EXPECT_EQ(published(), before) << "refused writes publish nothing";

  Reply grown = call(Verb::patch, pool, R"({"cidr":"10.200.0.0/23"})");
  ASSERT_EQ(grown.status, 200) << grown.body;
  EXPECT_EQ(str(body_of(grown), "cidr"), "10.200.0.0/23");
  EXPECT_EQ(published(), before + 1);
  EXPECT_GT(h.sink.generations.back(), h.sink.generations[before - 1]);

  // If-Match guards against a change made since the client read the pool.
  const std::string stale(got.raw[http::bhttp::field::etag]);
  http::Request req;
  req.msg.method(Verb::patch);
  req.msg.target(testing::kApi + pool);
  req.msg.set(http::bhttp::field::authorization, "Bearer " + h.admin_token());
  req.msg.set(http::bhttp::field::if_match, stale);
  req.msg.body() = R"({"cidr":"10.200.0.0/22"})";
  EXPECT_EQ(h.svc->handle(req).result_int(), 412);
  req.msg.set(http::bhttp::field::if_match, std::string(grown.raw[http::bhttp::field::etag]));
  EXPECT_EQ(h.svc->handle(req).result_int(), 200);

  restart();
  EXPECT_EQ(str(body_of(call(Verb::get, pool)), "cidr"), "10.200.0.0/22");

  ASSERT_EQ(call(Verb::patch, "/things/" + thing, R"({"ipLock":false})").status, 200);
  EXPECT_EQ(call(Verb::delete_, pool).status, 204);
  EXPECT_EQ(call(Verb::get, pool).status, 404);
  restart();
  EXPECT_EQ(call(Verb::get, pool).status, 404);
}

// ---------------------------------------------------------------------------------- routes

TEST_F(ResourcesTest, RoutesPointAtTheInternetATunnelOrNowhere) {
  const std::string net = "/networks/" + default_network();
  const std::string routes = net + "/routes";
  const json::value internet =
      create(routes, R"({"destination":"192.0.2.0/24","target":"INTERNET"})");
  EXPECT_EQ(str(internet, "target"), "INTERNET");
  EXPECT_TRUE(internet.at("tunnelId").is_null());
  const json::value hole =
      create(routes, R"({"destination":"203.0.113.0/24","target":"BLACKHOLE"})");

  const size_t before = published();
  Reply r = call(Verb::post, routes, R"({"destination":"192.0.2.0/24","target":"BLACKHOLE"})");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(fields_of(r), std::set<std::string>{"destination"});
  r = call(Verb::post, routes, R"({"destination":"10.0.0.1/8","target":"SOMEWHERE"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fields_of(r), (std::set<std::string>{"destination", "target"}));
  r = call(Verb::post, routes,
           R"({"destination":"172.16.0.0/16","target":"IPSEC_TUNNEL","tunnelId":"4711"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fields_of(r), std::set<std::string>{"tunnelId"});
  EXPECT_EQ(call(Verb::post, "/networks/4711/routes",
                 R"({"destination":"172.16.0.0/16","target":"INTERNET"})")
                .status,
            404);
  const std::string monitor = user("mon@example.com", "MONITOR").second;
  EXPECT_EQ(
      call(Verb::post, routes, R"({"destination":"172.17.0.0/16","target":"INTERNET"})", monitor)
          .status,
      403);
  EXPECT_EQ(call(Verb::get, routes, "", monitor).status, 200);
  EXPECT_EQ(published(), before);

  const std::string tunnel =
      str(create(net + "/ipsectunnels",
                 R"({"name":"hq","peerAddress":"198.51.100.7","remoteSubnets":["172.16.0.0/16"],
                     "ikeProposals":["aes128-sha256-modp2048"],"espProposals":["aes128gcm16"],
                     "preSharedKey":"0123456789abcdef0123"})"),
          "id");
  const json::value via =
      create(routes, R"({"destination":"172.16.0.0/16","target":"IPSEC_TUNNEL","tunnelId":")" +
                         tunnel + "\"}");
  EXPECT_EQ(str(via, "tunnelId"), tunnel);
  EXPECT_EQ(call(Verb::delete_, net + "/ipsectunnels/" + tunnel).status, 412);

  const Reply list = call(Verb::get, routes + "?limit=2");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(body_of(list).as_array().size(), 2u);
  EXPECT_EQ(std::string(list.raw["X-Total-Count"]), "3");
  EXPECT_EQ(body_of(call(Verb::get, routes + "/" + str(hole, "id"))), hole);
  EXPECT_EQ(call(Verb::get, routes + "/4711").status, 404);

  restart();
  EXPECT_EQ(body_of(call(Verb::get, routes + "/" + str(via, "id"))), via);
  const size_t kept = published();
  EXPECT_EQ(call(Verb::delete_, routes + "/" + str(via, "id")).status, 204);
  EXPECT_EQ(published(), kept + 1);
  EXPECT_EQ(call(Verb::delete_, routes + "/" + str(via, "id")).status, 404);
  EXPECT_EQ(call(Verb::delete_, net + "/ipsectunnels/" + tunnel).status, 204);
  restart();
  EXPECT_EQ(call(Verb::get, routes + "/" + str(via, "id")).status, 404);
  EXPECT_EQ(call(Verb::get, net + "/ipsectunnels/" + tunnel).status, 404);
}

// ------------------------------------------------------------------------------- NAT rules

TEST_F(ResourcesTest, NatRulesForwardToLockedThingsOnFreePorts) {
  const std::string nat = "/networks/" + default_network() + "/natrules";
  const std::string dynamic = provision(1);
  const std::string locked = provision(2, R"(,"ipLock":true,"lockedAddress":"10.64.0.9")");
  auto rule = [](const std::string& thing, int public_port, int thing_port,
                 const char* ip = "192.0.2.80") {
    return std::string(R"({"protocol":"TCP","publicIp":")") + ip + R"(","publicPort":)" +
           std::to_string(public_port) + R"(,"thingId":")" + thing + R"(","thingPort":)" +
           std::to_string(thing_port) + "}";
  };

  const size_t before = published();
  Reply r = call(Verb::post, nat, rule(dynamic, 8080, 80));
  EXPECT_EQ(r.status, 412) << r.body;
  EXPECT_EQ(fields_of(r), std::set<std::string>{"thingId"});
  r = call(Verb::post, nat, rule("4711", 8080, 80));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fields_of(r), std::set<std::string>{"thingId"});
  r = call(Verb::post, nat, rule(locked, 8080, 80, "10.64.1.1"));  // inside the pool
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fields_of(r), std::set<std::string>{"publicIp"});
  r = call(Verb::post, nat, R"({"protocol":"ICMP","publicIp":"192.0.2.80","publicPort":0})");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(fields_of(r).count("publicPort") && fields_of(r).count("thingId") &&
              fields_of(r).count("thingPort"))
      << r.body;
  EXPECT_EQ(published(), before);

  const json::value web = create(nat, rule(locked, 8080, 80));
  EXPECT_EQ(published(), before + 1);
  EXPECT_EQ(str(web, "thingId"), locked);
  EXPECT_EQ(web.at("publicPort").as_int64(), 8080);
  r = call(Verb::post, nat, rule(locked, 8080, 81));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(fields_of(r), std::set<std::string>{"publicPort"});
  r = call(Verb::post, nat, rule(locked, 8081, 80));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(fields_of(r), std::set<std::string>{"thingPort"});
  EXPECT_EQ(published(), before + 1);

  // A GROUP_USER sees only the rules forwarding to its groups' Things.
  const std::string group =
      str(create("/thingsgroups", R"({"name":"other","networkId":")" + default_network() +
                                      R"(","ipProfileId":")" + default_profile() + "\"}"),
          "id");
  const std::string gu = user("gu@example.com", "GROUP_USER", "\"" + group + "\"").second;
  EXPECT_TRUE(body_of(call(Verb::get, nat, "", gu)).as_array().empty());
  EXPECT_EQ(call(Verb::get, nat + "/" + str(web, "id"), "", gu).status, 404);

  restart();
  const std::string one = nat + "/" + str(web, "id");
  EXPECT_EQ(body_of(call(Verb::get, one)), web);
  EXPECT_EQ(body_of(call(Verb::get, nat)).as_array().size(), 1u);
  EXPECT_EQ(call(Verb::delete_, one).status, 204);
  EXPECT_EQ(call(Verb::get, one).status, 404);
  EXPECT_EQ(call(Verb::delete_, one).status, 404);
  restart();
  EXPECT_TRUE(body_of(call(Verb::get, nat)).as_array().empty());
}

// --------------------------------------------------------------------------- IPsec tunnels

TEST_F(ResourcesTest, TunnelPreSharedKeyIsNeverReturnedOrLogged) {
  const std::string psk = "psk-Zq8vW3nK1xR7tY0p";
  const std::string psk2 = "psk-second-Lm4Hc9Qe2s";
  const std::string short_psk = "psk-shrt";
  const std::string tunnels = "/networks/" + default_network() + "/ipsectunnels";
  const std::string body =
      R"({"name":"hq","peerAddress":"198.51.100.7","localSubnets":["10.64.0.0/16"],
          "remoteSubnets":["172.16.0.0/16"],"ikeProposals":["aes256-sha256-modp2048"],
          "espProposals":["aes256gcm16"],"dpdSeconds":10,"preSharedKey":")" +
      psk + "\"}";
  std::vector<Reply> replies;
  auto keep = [&](Reply r) {
    replies.push_back(r);
    return r;
  };

  ::testing::internal::CaptureStderr();
  const size_t before = published();
  const Reply made = keep(call(Verb::post, tunnels, body));
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(published(), before + 1);
  const std::string one = tunnels + "/" + str(body_of(made), "id");
  EXPECT_EQ(str(body_of(made), "name"), "hq");
  EXPECT_EQ(body_of(made).at("dpdSeconds").as_int64(), 10);
  EXPECT_FALSE(body_of(made).as_object().contains("preSharedKey"));

  EXPECT_EQ(keep(call(Verb::post, tunnels, body)).status, 409);  // the name is taken
  Reply r =
      keep(call(Verb::post, tunnels,
                R"({"name":"weak","peerAddress":"198.51.100.8","remoteSubnets":["172.17.0.0/16"],
                          "ikeProposals":["aes128-sha256-modp2048"],"espProposals":["aes128gcm16"],
                          "preSharedKey":")" +
                    short_psk + "\"}"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fields_of(r), std::set<std::string>{"preSharedKey"});
  r = keep(call(Verb::patch, one, R"({"preSharedKey":")" + short_psk + "\"}"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fields_of(r), std::set<std::string>{"preSharedKey"});
  r = keep(call(Verb::patch, one, R"({"bogus":")" + psk + "\"}"));
  EXPECT_EQ(fields_of(r), std::set<std::string>{"bogus"});
  r = keep(call(Verb::patch, one, R"({"preSharedKey":12345678901234567890})"));
  EXPECT_EQ(fields_of(r), std::set<std::string>{"preSharedKey"});
  EXPECT_EQ(keep(call(Verb::patch, one, R"({"preSharedKey":")" + psk)).status, 400);
  EXPECT_EQ(keep(call(Verb::patch, tunnels + "/4711", R"({"preSharedKey":")" + psk + "\"}")).status,
            404);
  EXPECT_EQ(published(), before + 1);

  const Reply patched = keep(
      call(Verb::patch, one, R"({"peerAddress":"203.0.113.5","preSharedKey":")" + psk2 + "\"}"));
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(str(body_of(patched), "peerAddress"), "203.0.113.5");
  EXPECT_EQ(str(body_of(patched), "name"), "hq");
  EXPECT_EQ(published(), before + 2);

  const Reply got = keep(call(Verb::get, one));
  EXPECT_EQ(body_of(got), body_of(patched));
  EXPECT_EQ(body_of(keep(call(Verb::get, tunnels))).as_array().size(), 1u);
  const Reply status = keep(call(Verb::get, one + "/status"));
  ASSERT_EQ(status.status, 200) << status.body;
  const json::value st = body_of(status);
  EXPECT_EQ(str(st, "tunnelId"), str(body_of(made), "id"));
  EXPECT_EQ(str(st.at("ikeSa"), "state"), "DOWN");
  EXPECT_TRUE(st.at("ikeSa").at("spiInitiator").is_null());
  EXPECT_TRUE(st.at("childSas").as_array().empty());
  EXPECT_EQ(st.at("bytesIn").as_int64(), 0);
  EXPECT_NE(str(st, "lastError").find("IKE"), std::string::npos);
  EXPECT_EQ(keep(call(Verb::get, tunnels + "/4711/status")).status, 404);
  const std::string logged = ::testing::internal::GetCapturedStderr();

  for (const Reply& x : replies) {
    EXPECT_EQ(x.body.find("psk-"), std::string::npos) << x.status << " " << x.body;
    EXPECT_EQ(x.body.find("1234567890123456789"), std::string::npos) << x.body;
  }
  EXPECT_EQ(logged.find("psk-"), std::string::npos) << logged;

  // The new key was stored: the daemon will need it to authenticate to the peer.
  h.svc.reset();
  {
    auto store = Store::open(h.config.data_dir);
    ASSERT_TRUE(store.ok());
    auto model = (*store)->load_model();
    ASSERT_TRUE(model.ok());
    const core::Network& n = model->networks.begin()->second;
    ASSERT_EQ(n.tunnels.size(), 1u);
    EXPECT_EQ(n.tunnels[0].pre_shared_key, psk2);
  }
  restart();
  EXPECT_EQ(body_of(call(Verb::get, one)), body_of(patched));
  EXPECT_EQ(call(Verb::delete_, one).status, 204);
  EXPECT_EQ(call(Verb::get, one + "/status").status, 404);
}

// ----------------------------------------------------------------------------------- users

TEST_F(ResourcesTest, UserChangesTakeEffectOnIssuedTokens) {
  const auto [id, token] = user("dev@example.com", "STANDARD");
  const std::string path = "/users/" + id;
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(call(Verb::post, "/networks", R"({"name":"a","apnName":"a.example"})", token).status,
            201);
  EXPECT_EQ(call(Verb::get, path, "", token).status, 403);  // ADMIN only
  EXPECT_EQ(call(Verb::patch, path, R"({"role":"ADMIN"})", token).status, 403);

  const Reply got = call(Verb::get, path);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(str(body_of(got), "role"), "STANDARD");
  EXPECT_FALSE(body_of(got).as_object().contains("clientSecret"));
  EXPECT_EQ(call(Verb::get, "/users/4711").status, 404);
  EXPECT_EQ(call(Verb::patch, "/users/4711", R"({"name":"x"})").status, 404);

  Reply r = call(Verb::patch, path, R"({"role":"KING","clientId":"mine"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fields_of(r), (std::set<std::string>{"role", "clientId"}));
  ASSERT_FALSE(user("other@example.com", "MONITOR").first.empty());
  r = call(Verb::patch, path, R"({"email":"other@example.com"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fields_of(r), std::set<std::string>{"email"});
  r = call(Verb::patch, path, R"({"role":"GROUP_USER","thingsGroupIds":["4711"]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fields_of(r), std::set<std::string>{"thingsGroupIds[0]"});
  EXPECT_EQ(call(Verb::post, "/networks", R"({"name":"b","apnName":"b.example"})", token).status,
            201)
      << "refused changes leave the token alone";

  const Reply demoted = call(Verb::patch, path, R"({"role":"MONITOR","name":"dev"})");
  ASSERT_EQ(demoted.status, 200) << demoted.body;
  EXPECT_EQ(str(body_of(demoted), "role"), "MONITOR");
  EXPECT_EQ(str(body_of(demoted), "clientId"), str(body_of(got), "clientId"));
  EXPECT_EQ(call(Verb::get, "/networks", "", token).status, 401);

  // A GROUP_USER's groups go with the role.
  const std::string group = default_group();
  ASSERT_EQ(call(Verb::patch, path, R"({"role":"GROUP_USER","thingsGroupIds":[")" + group + "\"]}")
                .status,
            200);
  const Reply standard = call(Verb::patch, path, R"({"role":"STANDARD"})");
  ASSERT_EQ(standard.status, 200) << standard.body;
  EXPECT_TRUE(body_of(standard).at("thingsGroupIds").as_array().empty());

  // The last ADMIN may not step down.
  std::string admin_id;
  const json::value users = body_of(call(Verb::get, "/users"));
  for (const json::value& u : users.as_array()) {
    if (str(u, "role") == "ADMIN") admin_id = str(u, "id");
  }
  r = call(Verb::patch, "/users/" + admin_id, R"({"role":"STANDARD"})");
  EXPECT_EQ(r.status, 412);
  EXPECT_EQ(fields_of(r), std::set<std::string>{"role"});
  EXPECT_EQ(call(Verb::get, "/users").status, 200) << "the admin's token still works";

  restart();
  const Reply after = call(Verb::get, path);
  EXPECT_EQ(str(body_of(after), "role"), "STANDARD");
  EXPECT_EQ(str(body_of(after), "name"), "dev");
}

TEST_F(ResourcesTest, ANewTokenCarriesTheChangedRole) {
  const json::value u =
      create("/users", R"({"name":"u","email":"u@example.com","role":"MONITOR"})");
  const std::string id = str(u, "clientId"), secret = str(u, "clientSecret");
  const std::string before = h.token_for(id, secret);
  EXPECT_EQ(call(Verb::post, "/networks", R"({"name":"a","apnName":"a.example"})", before).status,
            403);
  ASSERT_EQ(call(Verb::patch, "/users/" + str(u, "id"), R"({"role":"STANDARD"})").status, 200);
  EXPECT_EQ(call(Verb::get, "/networks", "", before).status, 401);
  const std::string after = h.token_for(id, secret);
  EXPECT_EQ(call(Verb::post, "/networks", R"({"name":"a","apnName":"a.example"})", after).status,
            201);
}

// ---------------------------------------------------------------------------------- events

TEST_F(ResourcesTest, EventsFilterPageAndStayInTheCallersGroups) {
  const std::string group =
      str(create("/thingsgroups", R"({"name":"fleet","networkId":")" + default_network() +
                                      R"(","ipProfileId":")" + default_profile() + "\"}"),
          "id");
  const std::string a = provision(1);
  const std::string b = provision(2, R"(,"thingsGroupId":")" + group + "\"");
  const int64_t t0 = h.now_ms;  // 2027-01-15T08:00:00Z
  set_state(a, "ACTIVE");       // t0
  h.now_ms += 60'000;
  set_state(b, "ACTIVE");  // t0 + 1 min
  h.now_ms += 60'000;
  set_state(a, "SUSPENDED");  // t0 + 2 min
  h.now_ms += 60'000;
  set_state(b, "SUSPENDED");  // t0 + 3 min

  Reply all = call(Verb::get, "/events");
  ASSERT_EQ(all.status, 200) << all.body;
  const json::value listed = body_of(all);
  const json::array& events = listed.as_array();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(std::string(all.raw["X-Total-Count"]), "4");
  // Newest first, with the detail of the change.
  EXPECT_EQ(str(events[0], "thingId"), b);
  EXPECT_EQ(str(events[0], "type"), "STATE_CHANGED");
  EXPECT_EQ(str(events[0], "time"), "2027-01-15T08:03:00.000Z");
  EXPECT_EQ(str(events[0].at("details"), "from"), "ACTIVE");
  EXPECT_EQ(str(events[0].at("details"), "to"), "SUSPENDED");
  EXPECT_EQ(str(events[3], "thingId"), a);
  EXPECT_GT(std::stoll(str(events[0], "id")), std::stoll(str(events[3], "id")));

  auto ids = [&](const std::string& query, const std::string& token = "") {
    const Reply r = call(Verb::get, "/events" + query, "", token);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    std::vector<std::string> out;
    if (r.status == 200) {
      const json::value page = body_of(r);
      for (const json::value& e : page.as_array()) out.push_back(str(e, "thingId"));
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids("?thingId=" + a), (V{a, a}));
  EXPECT_EQ(ids("?type=STATE_CHANGED"), (V{b, a, b, a}));
  EXPECT_EQ(ids("?type=IMEI_CHANGED"), V{});
  EXPECT_EQ(ids("?type=IMEI_CHANGED&type=STATE_CHANGED&limit=1"), V{b});
  EXPECT_EQ(ids("?since=2027-01-15T08:01:00Z&until=" + std::to_string(t0 + 180'000)), (V{a, b}));
  EXPECT_EQ(ids("?since=2027-01-15T09:02:00.000%2B01:00"), (V{b, a}));
  EXPECT_EQ(ids("?since=2027-01-15T08:01:00.5Z"), (V{b, a}));

  const Reply page = call(Verb::get, "/events?limit=2&offset=1");
  ASSERT_EQ(page.status, 200);
  ASSERT_EQ(body_of(page).as_array().size(), 2u);
  EXPECT_EQ(body_of(page).as_array()[0], events[1]);
  EXPECT_EQ(body_of(page).as_array()[1], events[2]);
  EXPECT_EQ(std::string(page.raw["X-Total-Count"]), "4");
  const std::string link(page.raw[http::bhttp::field::link]);
  EXPECT_NE(link.find("offset=3"), std::string::npos) << link;
  EXPECT_NE(link.find("rel=\"next\""), std::string::npos) << link;

  Reply bad = call(Verb::get, "/events?since=yesterday&thingId=x&type=state&limit=0");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(fields_of(bad), (std::set<std::string>{"since", "thingId", "type", "limit"}));
  bad = call(Verb::get, "/events?until=2027-02-30T00:00:00Z");
  EXPECT_EQ(fields_of(bad), std::set<std::string>{"until"});

  const std::string gu = user("fleet@example.com", "GROUP_USER", "\"" + group + "\"").second;
  EXPECT_EQ(ids("", gu), (V{b, b}));
  EXPECT_EQ(ids("?thingId=" + a, gu), V{});
  const Reply scoped = call(Verb::get, "/events", "", gu);
  EXPECT_EQ(std::string(scoped.raw["X-Total-Count"]), "2");

  restart();
  EXPECT_EQ(body_of(call(Verb::get, "/events")).as_array(), events);
}

// -------------------------------------------------------------------------------- evaluate

TEST_F(ResourcesTest, EvaluateAnswersWithTheDecidingRule) {
  const json::value profile = create("/ipprofiles", R"({"name":"meters","outbound":{"rules":[
      {"priority":10,"action":"ALLOW","protocol":"TCP","remote":"198.51.100.0/24","remotePorts":"443"},
      {"priority":20,"action":"DENY","protocol":"TCP","remote":"198.51.100.0/24"}]}})");
  const json::array& rules = profile.at("outbound").at("rules").as_array();
  const std::string allow_rule = str(rules[0], "id"), deny_rule = str(rules[1], "id");
  const std::string group =
      str(create("/thingsgroups", R"({"name":"meters","networkId":")" + default_network() +
                                      R"(","ipProfileId":")" + str(profile, "id") + "\"}"),
          "id");
  const std::string thing = provision(1, R"(,"thingsGroupId":")" + group + "\"");
  const std::string path = "/things/" + thing + "/evaluate";
  auto ask = [&](int port, const std::string& token = "") {
    const Reply r = call(Verb::post, path,
                         R"({"direction":"UPLINK","protocol":"TCP","remoteAddress":"198.51.100.7",
                             "remotePort":)" +
                             std::to_string(port) + R"(,"localPort":40000})",
                         token);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? body_of(r) : json::value(json::object{});
  };

  // A PROVISIONED Thing may not pass traffic at all.
  json::value d = ask(443);
  EXPECT_EQ(str(d, "verdict"), "DROP");
  EXPECT_EQ(str(d, "stage"), "state");
  EXPECT_TRUE(d.at("simulatedSession").as_bool());

  set_state(thing, "ACTIVE");
  const size_t before = published();
  const std::string monitor = user("mon@example.com", "MONITOR").second;
  d = ask(443, monitor);
  EXPECT_EQ(str(d, "verdict"), "FORWARD");
  EXPECT_EQ(str(d, "stage"), "deliver");
  EXPECT_EQ(str(d, "ruleId"), allow_rule);
  EXPECT_TRUE(d.at("dropReason").is_null());
  EXPECT_EQ(str(d, "thingId"), thing);
  EXPECT_EQ(str(d.at("out"), "srcAddress").rfind("10.", 0), 0u) << d;
  d = ask(23);
  EXPECT_EQ(str(d, "verdict"), "DROP");
  EXPECT_EQ(str(d, "stage"), "firewall-out");
  EXPECT_EQ(str(d, "dropReason"), "uplink.firewall");
  EXPECT_EQ(str(d, "ruleId"), deny_rule);
  EXPECT_EQ(published(), before) << "a what-if changes nothing";
  EXPECT_FALSE(body_of(call(Verb::get, "/things/" + thing + "/session")).at("online").as_bool());

  Reply r = call(Verb::post, path, R"({"direction":"SIDEWAYS","protocol":"ICMP","remotePort":7})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fields_of(r), (std::set<std::string>{"direction", "remoteAddress", "remotePort"}));
  EXPECT_EQ(call(Verb::post, "/things/4711/evaluate",
                 R"({"direction":"UPLINK","protocol":"ICMP","remoteAddress":"192.0.2.1"})")
                .status,
            404);
  const std::string gu = user("gu@example.com", "GROUP_USER", "\"" + default_group() + "\"").second;
  EXPECT_EQ(call(Verb::post, path,
                 R"({"direction":"UPLINK","protocol":"ICMP","remoteAddress":"192.0.2.1"})", gu)
                .status,
            403);
}

}  // namespace
}  // namespace simcore::ctl
