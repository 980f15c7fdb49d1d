// control/account_file.h — loads a whole account from a YAML file: networks (pools, routes,
// IPsec tunnels, NAT rules), IP Profiles, Things Groups, Things (listed one by one or generated
// in blocks) and an optional list of example packets. Everything goes through core::Account's
// public methods, so the API's rules apply unchanged, and the result is compiled once so that
// table conflicts are reported too.
//
// The file names fields with the API's camelCase names and refers to other objects by name (a
// group's `network` and `ipProfile`, a route's `tunnel`) or, for Things, by ICCID or name. The
// shipped defaults ("Default network", "Default profile", "Default group") exist before the file
// is read; an entry with one of their names updates it instead of creating a new object.
//
// Failure: one core::Error naming every bad field by its YAML path, e.g.
// "networks[1].pools[0]: CIDR has host bits set (line 12)"; a single problem keeps the code
// Account gave it (kAlreadyExists, kFailedPrecondition, ...), several are kInvalidArgument.
// Unknown keys, wrong types and dangling names are errors. Control thread; no global state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/account.h"
#include "core/compiler.h"
#include "core/result.h"
#include "core/verdict.h"

namespace simcore::ctl {

// One entry of the file's `examples:` list: a packet to evaluate, addresses resolved (host
// order; `packet.teid` is the uplink TEID of the sending Thing's session).
struct ExamplePacket {
  std::string name;
  std::string path;  // "examples[3]", for messages
  core::PacketDesc packet;
  // What the file says should happen (`expect:`): a verdict and, for DROP, maybe the reason.
  std::optional<core::Verdict> expect_verdict;
  std::optional<core::DropReason> expect_drop;
};

// Returns true when `d` is what `e` expects; true when it expects nothing.
bool meets_expectation(const ExamplePacket& e, const core::Decision& d) noexcept;
// Returns the expectation as the file spells it ("FORWARD", "uplink.firewall"), or "".
std::string expectation_str(const ExamplePacket& e);

struct LoadedAccount {
  core::Account account;
  // In file order. Stateful examples depend on it: a reply must follow the packet that opened
  // its flow, evaluated with the same core::FlowMemory.
  std::vector<ExamplePacket> examples;
  core::TablesPtr tables;  // the check compile's result (generation 1)
};

// Reads and loads the file at `path`. kNotFound when it cannot be read.
core::Result<LoadedAccount> load_account_yaml(const std::string& path);
// Loads from YAML text; syntax errors name the line and column.
core::Result<LoadedAccount> load_account_yaml_text(std::string_view text);

}  // namespace simcore::ctl
