// control/daemon/tables_sink.h — where control hands every newly compiled snapshot. The data
// plane implements it (its issue); until then simcored publishes into a core::Publisher that
// workers will read, and tests use a fake that records generations. Control thread only.
#pragma once

#include "core/compiler.h"
#include "core/publisher.h"

namespace simcore::ctl {

class TablesSink {
 public:
  virtual ~TablesSink() = default;
  // Takes ownership of a shared reference to `tables`; returns once readers may see it.
  virtual void publish(core::TablesPtr tables) = 0;
};

// Publishes into a QSBR publisher that data-plane workers register with.
class PublisherSink final : public TablesSink {
 public:
  void publish(core::TablesPtr tables) override { publisher_.publish(std::move(tables)); }
  core::Publisher<core::CompiledTables>& publisher() noexcept { return publisher_; }

 private:
  core::Publisher<core::CompiledTables> publisher_;
};

}  // namespace simcore::ctl
