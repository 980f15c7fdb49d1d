// core/compiler.h — model → CompiledTables, fully or incrementally.
// Every cross-object rule is checked here again before a table is produced (overlapping pools,
// two NAT rules on one public port, a route to a missing tunnel, two sessions on one TEID or
// address, ...): a model that would compile into ambiguous tables is rejected with an error
// and the previous tables stay as they were. Control thread only; the result is immutable and
// shares unchanged pages with the previous one.
#pragma once

#include <map>
#include <memory>
#include <span>

#include "core/account.h"
#include "core/tables.h"

namespace simcore::core {

using TablesPtr = std::shared_ptr<const CompiledTables>;

class Compiler {
 public:
  // Compiles everything. Returns the new tables (generation + 1) or the first conflict.
  Result<TablesPtr> compile(const Model& model);

  // Recompiles the session rows of these Things (state, services, session, group) on top of
  // the last result; falls back to compile() when there is none or a Thing's group refers to a
  // profile or network the last result does not index.
  Result<TablesPtr> update_things(const Model& model, std::span<const ThingSlot> slots);

  // Recompiles one profile's chains on top of the last result (falls back like update_things).
  Result<TablesPtr> update_profile(const Model& model, ProfileId id);

  // Returns the last successful result, or nullptr.
  const TablesPtr& last() const noexcept { return last_; }

 private:
  Status session_row(const Model& model, const Thing& t, SessionRow& row) const;

  TablesPtr last_;
  std::map<ProfileId, ProfileIndex> profile_index_;
  std::map<NetworkId, NetworkIndex> network_index_;
  uint64_t generation_ = 0;
};

// Returns the chain in first-match order, normalised for rte_acl. Pure.
CompiledChain compile_chain(const Chain& chain);

}  // namespace simcore::core
