#include "control/daemon/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdio>
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

// Checks that every key of map `n` (named `where`) is in `keys`.
void only_keys(const YAML::Node& n, const std::string& where, const std::set<std::string>& keys,
               core::FieldErrors& errs) {
  for (const auto& kv : n) {
    const std::string k = kv.first.as<std::string>("");
    if (!keys.count(k)) errs.add(where + "." + k, "unknown key");
  }
}

std::optional<std::array<uint8_t, 6>> parse_mac(const std::string& text) {
  std::array<uint8_t, 6> mac{};
  unsigned b[6];
  char end = 0;
  if (std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
                  &b[5], &end) != 6) {
    return std::nullopt;
  }
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(b[i]);
  return mac;
}

void read_port(const YAML::Node& n, const std::string& where, PortSection& p,
               core::FieldErrors& errs) {
  if (!n || !n.IsMap()) {
    errs.add(where, "must be a map with at least port and address");
    return;
  }
  only_keys(n, where,
            {"port", "devargs", "address", "prefixLength", "gateway", "mtu", "neighbours"}, errs);
  core::FieldErrors e;
  if (!read(n, "port", p.port, e) || p.port.empty()) e.add("port", "names a DPDK port");
  read(n, "devargs", p.devargs, e);
  std::string addr;
  if (read(n, "address", addr, e)) {
    if (auto a = core::Ipv4::parse(addr); a.ok()) {
      p.address = *a;
    } else {
      e.add("address", "an IPv4 address");
    }
  } else {
    e.add("address", "is required");
  }
  int len = p.prefix_length;
  if (read(n, "prefixLength", len, e) && (len < 1 || len > 32)) e.add("prefixLength", "1 to 32");
  p.prefix_length = static_cast<uint8_t>(len);
  if (read(n, "gateway", addr, e)) {
    if (auto a = core::Ipv4::parse(addr); a.ok()) {
      p.gateway = *a;
    } else {
      e.add("gateway", "an IPv4 address");
    }
  }
  int mtu = p.mtu;
  if (read(n, "mtu", mtu, e) && (mtu < 576 || mtu > 9000)) e.add("mtu", "576 to 9000");
  p.mtu = static_cast<uint16_t>(mtu);
  if (const YAML::Node nb = n["neighbours"]) {
    if (!nb.IsSequence()) e.add("neighbours", "a list of {address, mac}");
    for (const YAML::Node& x : nb) {
      if (!x.IsMap()) {
        e.add("neighbours", "each needs an IPv4 address and a MAC like 02:00:00:00:00:01");
        break;
      }
      const auto a = core::Ipv4::parse(x["address"].as<std::string>(""));
      const auto mac = parse_mac(x["mac"].as<std::string>(""));
      if (!a.ok() || !mac) {
        e.add("neighbours", "each needs an IPv4 address and a MAC like 02:00:00:00:00:01");
        break;
      }
      p.neighbours.push_back({*a, *mac});
    }
  }
  if (core::Status st = e.status(); !st) {
    for (const core::FieldError& f : st.error().fields())
      errs.add(where + "." + f.field, f.message);
  }
}

void read_ike(const YAML::Node& n, DataplaneConfig& d, core::FieldErrors& errs) {
  IkeSection& k = d.ike.emplace();
  if (n.IsNull()) return;  // `ike:` alone: every default
  if (!n.IsMap()) {
    errs.add("dataplane.ike", "must be a map");
    return;
  }
  only_keys(n, "dataplane.ike",
            {"port", "nattPort", "peerPort", "logLevel", "retransmitTries",
             "retransmitTimeoutSeconds", "childRekeySeconds", "retrySeconds", "forceUdpEncap"},
            errs);
  core::FieldErrors e;
  for (auto [key, field] : {std::pair{"port", &k.port}, std::pair{"nattPort", &k.natt_port},
                            std::pair{"peerPort", &k.peer_port}}) {
    if (read(n, key, *field, e) && *field == 0) e.add(key, "1 to 65535");
  }
  if (read(n, "logLevel", k.log_level, e) && (k.log_level < -1 || k.log_level > 4)) {
    e.add("logLevel", "-1 (silent) to 4");
  }
  if (read(n, "retransmitTries", k.retransmit_tries, e) && k.retransmit_tries > 20) {
    e.add("retransmitTries", "0 to 20");
  }
  if (read(n, "retransmitTimeoutSeconds", k.retransmit_timeout_s, e) &&
      (k.retransmit_timeout_s < 0 || k.retransmit_timeout_s > 60)) {
    e.add("retransmitTimeoutSeconds", "0 to 60");
  }
  if (read(n, "childRekeySeconds", k.child_rekey_seconds, e) && k.child_rekey_seconds != 0 &&
      k.child_rekey_seconds < 10) {
    e.add("childRekeySeconds", "0 (an hour) or at least 10");
  }
  if (read(n, "retrySeconds", k.retry_seconds, e) &&
      (k.retry_seconds < 1 || k.retry_seconds > 3600)) {
    e.add("retrySeconds", "1 to 3600");
  }
  read(n, "forceUdpEncap", k.force_udp_encap, e);
  if (k.port == k.natt_port) e.add("nattPort", "differs from port");
  if (core::Status st = e.status(); !st) {
    for (const core::FieldError& f : st.error().fields())
      errs.add("dataplane.ike." + f.field, f.message);
  }
}

// Returns what already sets EAL option `arg` (a config key, or simcored itself), or nullptr
// when the option may pass through: those dp::eal_arguments() builds from the dataplane keys,
// their aliases, and the shared-config ones simcored chooses. Passed again, they would
// contradict the key.
const char* owned_eal_option(const std::string& arg) {
  static const std::pair<const char*, const char*> kOwned[] = {
      {"--lcores", "dataplane.lcores"},
      {"-l", "dataplane.lcores"},
      {"-c", "dataplane.lcores"},
      {"-m", "dataplane.memoryMb"},
      {"--socket-mem", "dataplane.memoryMb"},
      {"--no-huge", "dataplane.hugepages"},
      {"--no-pci", "dataplane.pci"},
      {"--vdev", "dataplane.access/core.devargs"},
      {"--no-shconf", "simcored itself"},
      {"--file-prefix", "simcored itself"},
  };
  const std::string name = arg.substr(0, arg.find('='));
  for (const auto& [option, key] : kOwned) {
    // Short options take their value attached (-l0-3), long ones after '='.
    const bool short_option = option[1] != '-';
    if (short_option ? arg.rfind(option, 0) == 0 : name == option) return key;
  }
  return nullptr;
}

void read_eal_args(const YAML::Node& n, DataplaneConfig& d, core::FieldErrors& e) {
  if (!n.IsSequence()) {
    e.add("ealArgs", "a list of EAL options like --force-max-simd-bitwidth=512");
    return;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string where = "ealArgs[" + std::to_string(i) + "]";
    if (!n[i].IsScalar()) {
      e.add(where, "an EAL option (a string)");
      continue;
    }
    const std::string arg = n[i].as<std::string>();
    if (arg.size() < 2 || arg[0] != '-') {
      e.add(where, "one EAL option per entry, starting with '-' (long options take '=value')");
    } else if (const char* key = owned_eal_option(arg)) {
      e.add(where, std::string("is set by ") + key);
    } else {
      d.eal_args.push_back(arg);
    }
  }
}

void read_dataplane(const YAML::Node& n, DataplaneConfig& d, core::FieldErrors& errs) {
  if (!n.IsMap()) {
    errs.add("dataplane", "must be a map");
    return;
  }
  only_keys(n, "dataplane",
            {"workers", "lcores", "memoryMb", "hugepages", "pci", "idleSleepMicros", "packedMbufs",
             "flowsPerWorker", "ealArgs", "access", "core", "ike"},
            errs);
  core::FieldErrors e;
  if (read(n, "workers", d.workers, e) && (d.workers < 1 || d.workers > 64)) {
    e.add("workers", "1 to 64");
  }
  read(n, "lcores", d.lcores, e);
  if (read(n, "memoryMb", d.memory_mb, e) && d.memory_mb < 64) e.add("memoryMb", "at least 64");
  read(n, "hugepages", d.hugepages, e);
  read(n, "pci", d.pci, e);
  read(n, "idleSleepMicros", d.idle_sleep_us, e);
  read(n, "packedMbufs", d.packed_mbufs, e);
  if (read(n, "flowsPerWorker", d.flows_per_worker, e) &&
      (d.flows_per_worker < 1024 || d.flows_per_worker > (1u << 26) ||
       (d.flows_per_worker & (d.flows_per_worker - 1)) != 0)) {
    e.add("flowsPerWorker", "a power of two from 1024 to 67108864");
  }
  if (const YAML::Node a = n["ealArgs"]) read_eal_args(a, d, e);
  if (core::Status st = e.status(); !st) {
    for (const core::FieldError& f : st.error().fields())
      errs.add("dataplane." + f.field, f.message);
  }
  read_port(n["access"], "dataplane.access", d.access, errs);
  read_port(n["core"], "dataplane.core", d.core, errs);
  if (n["ike"]) read_ike(n["ike"], d, errs);
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
  static const std::set<std::string> kKeys = {"listenAddress",
                                              "port",
                                              "dataDir",
                                              "apiPrefix",
                                              "organization",
                                              "adminClientId",
                                              "adminClientSecret",
                                              "adminEmail",
                                              "tokenTtlSeconds",
                                              "rateLimitPerSecond",
                                              "rateLimitBurst",
                                              "maxBodyBytes",
                                              "maxConnections",
                                              "tlsCertFile",
                                              "tlsKeyFile",
                                              "ratePlan",
                                              "smsValiditySeconds",
                                              "dataplane",
                                              "dnsServers",
                                              "servedMccs"};
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
  if (const YAML::Node dp = root["dataplane"]) read_dataplane(dp, c.dataplane.emplace(), errs);
  if (const YAML::Node mccs = root["servedMccs"]) {
    c.served_mccs.clear();
    if (!mccs.IsSequence()) errs.add("servedMccs", "a list of MCCs (0 to 999)");
    for (size_t i = 0; mccs.IsSequence() && i < mccs.size(); ++i) {
      const int mcc = mccs[i].as<int>(-1);
      if (mcc < 0 || mcc > 999) {
        errs.add("servedMccs", "each must be an MCC, 0 to 999");
        break;
      }
      c.served_mccs.push_back(static_cast<uint16_t>(mcc));
    }
  }
  if (const YAML::Node dns = root["dnsServers"]) {
    c.dns_servers.clear();
    if (!dns.IsSequence() || dns.size() > 8)
      errs.add("dnsServers", "a list of up to 8 IPv4 addresses");
    for (size_t i = 0; dns.IsSequence() && i < dns.size() && i < 8; ++i) {
      auto a = core::Ipv4::parse(dns[i].as<std::string>(""));
      if (!a) {
        errs.add("dnsServers", "each must be an IPv4 address");
        break;
      }
      c.dns_servers.push_back(*a);
    }
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
