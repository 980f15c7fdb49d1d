#include "control/daemon/config.h"

#include <yaml-cpp/yaml.h>

#include <set>

namespace simcore::ctl {
namespace {

template <class T>
bool read(const YAML::Node& n, const char* key, T& out, core::FieldErrors& errs) {
  const YAML::Node v = n[key];
  if (!v) return false;
  try {
    out = v.as<T>();
    return true;
  } catch (const YAML::Exception&) {
    errs.add(key, "has the wrong type");
    return false;
  }
}

}  // namespace

core::Result<DaemonConfig> load_config_text(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return core::Error::invalid("", std::string("not YAML: ") + e.what());
  }
  DaemonConfig c;
  if (!root || root.IsNull()) return c;
  if (!root.IsMap()) return core::Error::invalid("", "the config must be a map of keys");
  static const std::set<std::string> kKeys = {"listenAddress",     "port",
                                              "dataDir",           "apiPrefix",
                                              "organization",      "adminClientId",
                                              "adminClientSecret", "adminEmail",
                                              "tokenTtlSeconds",   "rateLimitPerSecond",
                                              "rateLimitBurst",    "maxBodyBytes",
                                              "maxConnections",    "tlsCertFile",
                                              "tlsKeyFile",        "ratePlan",
                                              "smsValiditySeconds"};
  core::FieldErrors errs;
  for (const auto& kv : root) {
    const std::string k = kv.first.as<std::string>("");
    if (!kKeys.count(k)) errs.add(k, "unknown key");
  }
  int port = c.port;
  read(root, "listenAddress", c.listen_address, errs);
  if (read(root, "port", port, errs) && (port < 0 || port > 65535)) {
    errs.add("port", "must be 0 to 65535");
  }
  c.port = static_cast<uint16_t>(port);
  read(root, "dataDir", c.data_dir, errs);
  read(root, "apiPrefix", c.api_prefix, errs);
  read(root, "organization", c.organization, errs);
  read(root, "adminClientId", c.admin_client_id, errs);
  read(root, "adminClientSecret", c.admin_client_secret, errs);
  read(root, "adminEmail", c.admin_email, errs);
  if (read(root, "tokenTtlSeconds", c.token_ttl_s, errs) && c.token_ttl_s < 1) {
    errs.add("tokenTtlSeconds", "must be at least 1");
  }
  if (read(root, "rateLimitPerSecond", c.rate_limit_per_s, errs) && c.rate_limit_per_s <= 0) {
    errs.add("rateLimitPerSecond", "must be positive");
  }
  if (read(root, "rateLimitBurst", c.rate_limit_burst, errs) && c.rate_limit_burst < 1) {
    errs.add("rateLimitBurst", "must be at least 1");
  }
  read(root, "maxBodyBytes", c.max_body_bytes, errs);
  read(root, "maxConnections", c.max_connections, errs);
  if (const YAML::Node rp = root["ratePlan"]) {
    if (!rp.IsMap()) {
      errs.add("ratePlan", "must be a map");
    } else {
      for (const auto& kv : rp) {
        const std::string k = kv.first.as<std::string>("");
        if (k != "currency" && k != "feePerCycle" && k != "pricePerMb" && k != "pricePerSms") {
          errs.add("ratePlan." + k, "unknown key");
        }
      }
      core::FieldErrors rp_errs;
      read(rp, "currency", c.rate_plan.currency, rp_errs);
      read(rp, "feePerCycle", c.rate_plan.fee_per_cycle, rp_errs);
      read(rp, "pricePerMb", c.rate_plan.price_per_mb, rp_errs);
      read(rp, "pricePerSms", c.rate_plan.price_per_sms, rp_errs);
      if (core::Status st = rp_errs.status(); !st) errs.add("ratePlan", st.error().message());
      if (c.rate_plan.fee_per_cycle < 0 || c.rate_plan.price_per_mb < 0 ||
          c.rate_plan.price_per_sms < 0) {
        errs.add("ratePlan", "prices must not be negative");
      }
      if (c.rate_plan.currency.size() != 3) errs.add("ratePlan.currency", "an ISO 4217 code");
    }
  }
  if (read(root, "smsValiditySeconds", c.sms_validity_s, errs) && c.sms_validity_s < 1) {
    errs.add("smsValiditySeconds", "must be at least 1");
  }
  std::string s;
  if (read(root, "tlsCertFile", s, errs)) c.tls_cert_file = s;
  if (read(root, "tlsKeyFile", s, errs)) c.tls_key_file = s;
  if (c.tls_cert_file.has_value() != c.tls_key_file.has_value()) {
    errs.add("tlsKeyFile", "tlsCertFile and tlsKeyFile go together");
  }
  if (!c.api_prefix.empty() && (c.api_prefix[0] != '/' || c.api_prefix.back() == '/')) {
    errs.add("apiPrefix", "must start with / and not end with /");
  }
  if (!c.admin_client_secret.empty() && c.admin_client_secret.size() < 16) {
    errs.add("adminClientSecret", "at least 16 characters");
  }
  if (core::Status st = errs.status(); !st) return st.error();
  return c;
}

core::Result<DaemonConfig> load_config_file(const std::string& path) {
  YAML::Node n;
  try {
    n = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return core::Error(core::Code::kInvalidArgument, "cannot read config file " + path);
  } catch (const YAML::Exception& e) {
    return core::Error::invalid("", std::string("not YAML: ") + e.what());
  }
  return load_config_text(YAML::Dump(n));
}

}  // namespace simcore::ctl
