#include "control/auth/tokens.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

namespace simcore::ctl {
namespace {

struct FakeClock {
  int64_t now = 1'700'000'000'000;
  TokenIssuer::Clock fn() {
    return [this] { return now; };
  }
};

Principal admin() {
  Principal p;
  p.user = core::UserId{7};
  p.client_id = "client-7";
  p.role = core::Role::kAdmin;
  return p;
}

TEST(Tokens, IssuedTokensAreRandomAndCheckToTheirPrincipal) {
  FakeClock clock;
  TokenIssuer issuer(clock.fn(), 3600);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const IssuedToken t = issuer.issue(admin());
    EXPECT_EQ(t.access_token.size(), 64u);
    EXPECT_TRUE(seen.insert(t.access_token).second) << "token repeated";
  }
  const IssuedToken t = issuer.issue(admin());
  auto p = issuer.check(t.access_token);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->client_id, "client-7");
  EXPECT_EQ(p->role, core::Role::kAdmin);
  EXPECT_EQ(issuer.check("not-a-token").error().code(), core::Code::kUnauthenticated);
}

TEST(Tokens, ExpireAfterTheirLifetimeAndAreForgotten) {
  FakeClock clock;
  TokenIssuer issuer(clock.fn(), 60);
  const IssuedToken t = issuer.issue(admin());
  clock.now += 59'999;
  EXPECT_TRUE(issuer.check(t.access_token).ok());
  clock.now += 1;
  auto r = issuer.check(t.access_token);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), core::Code::kUnauthenticated);
  EXPECT_NE(r.error().message().find("expired"), std::string::npos);
  EXPECT_EQ(issuer.size(), 0u);
}

TEST(Tokens, ExpiredTokensArePurgedAsNewOnesAreIssued) {
  FakeClock clock;
  TokenIssuer issuer(clock.fn(), 1);
  for (int i = 0; i < 1000; ++i) (void)issuer.issue(admin());
  clock.now += 5000;
  for (int i = 0; i < 1100; ++i) (void)issuer.issue(admin());
  // The purge ran once the 1024th token was issued: only the live 1,100 remain.
  EXPECT_EQ(issuer.size(), 1100u) << "expired tokens were not purged";
}

TEST(Tokens, RevokingAUserEndsItsTokensOnly) {
  FakeClock clock;
  TokenIssuer issuer(clock.fn(), 3600);
  Principal other = admin();
  other.user = core::UserId{8};
  const IssuedToken a = issuer.issue(admin());
  const IssuedToken b = issuer.issue(other);
  issuer.revoke_user(core::UserId{7});
  EXPECT_FALSE(issuer.check(a.access_token).ok());
  EXPECT_TRUE(issuer.check(b.access_token).ok());
}

TEST(Tokens, BearerHeaderParsing) {
  EXPECT_EQ(bearer_token("Bearer abc").value(), "abc");
  EXPECT_EQ(bearer_token("bearer  abc ").value(), "abc");
  for (const char* bad : {"", "Basic abc", "Bearer", "Bearer ", "Bearerabc"}) {
    SCOPED_TRACE(bad);
    auto r = bearer_token(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), core::Code::kUnauthenticated);
  }
}

TEST(Tokens, ResponseHasTheOriginalServicesShape) {
  IssuedToken t{"tok", 1700000000123, 3600};
  const auto v = boost::json::parse(token_response_json(t, admin(), "acme"));
  const auto& o = v.as_object();
  // Every field of API.md, each a string like the original service's.
  for (const char* k :
       {"access_token", "token_type", "expires_in", "issued_at", "client_id", "status", "scope",
        "refresh_token_expires_in", "refresh_count", "organization_name", "application_name",
        "developer_email", "api_product_list"}) {
    SCOPED_TRACE(k);
    ASSERT_TRUE(o.contains(k));
    EXPECT_TRUE(o.at(k).is_string());
  }
  EXPECT_EQ(o.at("token_type").as_string(), "Bearer");
  EXPECT_EQ(o.at("expires_in").as_string(), "3599");
  EXPECT_EQ(o.at("issued_at").as_string(), "1700000000123");
  EXPECT_EQ(o.at("status").as_string(), "approved");
  EXPECT_EQ(o.at("access_token").as_string(), "tok");
  EXPECT_EQ(o.at("organization_name").as_string(), "acme");
}

}  // namespace
}  // namespace simcore::ctl
