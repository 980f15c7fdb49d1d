// The config file: defaults, every key, and errors that name the key.
#include "control/daemon/config.h"

#include <gtest/gtest.h>

namespace simcore::ctl {
namespace {

TEST(Config, EmptyTextGivesTheEmbeddedDefaults) {
  auto c = load_config_text("");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->listen_address, "127.0.0.1");
  EXPECT_EQ(c->port, 8080);
  EXPECT_EQ(c->rate_plan.currency, "EUR");
  EXPECT_EQ(c->sms_validity_s, 86400);
}

TEST(Config, ReadsTheRatePlanAndSmsValidity) {
  auto c = load_config_text(
      "ratePlan: {currency: USD, feePerCycle: 2.5, pricePerMb: 0.1, pricePerSms: 0.03}\n"
      "smsValiditySeconds: 600\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->rate_plan.currency, "USD");
  EXPECT_DOUBLE_EQ(c->rate_plan.fee_per_cycle, 2.5);
  EXPECT_DOUBLE_EQ(c->rate_plan.price_per_mb, 0.1);
  EXPECT_DOUBLE_EQ(c->rate_plan.price_per_sms, 0.03);
  EXPECT_EQ(c->sms_validity_s, 600);
}

TEST(Config, ErrorsNameTheKey) {
  struct Case {
    const char* text;
    const char* names;
  } cases[] = {
      {"prot: 80\n", "prot"},
      {"port: 70000\n", "port"},
      {"port: eighty\n", "port"},
      {"ratePlan: {feePerCycle: -1}\n", "ratePlan"},
      {"ratePlan: {fee: 1}\n", "ratePlan.fee"},
      {"ratePlan: {currency: EURO}\n", "ratePlan.currency"},
      {"smsValiditySeconds: 0\n", "smsValiditySeconds"},
      {"tlsCertFile: a.pem\n", "tlsKeyFile"},
      {"apiPrefix: api/\n", "apiPrefix"},
      {"adminClientSecret: short\n", "adminClientSecret"},
  };
  for (const Case& c : cases) {
    auto r = load_config_text(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().message().find(c.names), std::string::npos)
        << c.text << " -> " << r.error().message();
  }
}

}  // namespace
}  // namespace simcore::ctl
