// control/daemon/sessions.h — the subscriber side of attach (gtpc::AttachBackend) inside the
// service layer: an IMSI's Thing, every check of DESIGN.md "Attach", the address and the
// session in the account. Changes are applied to the account at once and made durable in
// batches: flush() stores every touched Thing and the ATTACH/ATTACH_REJECTED/DETACH/
// IMEI_CHANGED events in one transaction and publishes the tables once, so a burst of Create
// requests costs one commit and one snapshot, not one per request.
#pragma once

#include <string>
#include <vector>

#include "control/daemon/service.h"
#include "control/gtpc/attach_backend.h"

namespace simcore::ctl {

class SessionBackend final : public gtpc::AttachBackend {
 public:
  explicit SessionBackend(Service::Impl& service);

  gtpc::AttachAnswer attach(const gtpc::AttachAsk& ask) override;
  bool modify(uint32_t uplink_teid, core::Ipv4 peer_addr, uint32_t peer_teid) override;
  bool detach(uint32_t uplink_teid) override;
  bool flush() override;

 private:
  struct PendingEvent {
    const char* type;
    core::ThingId thing;  // 0 for an IMSI no Thing has
    std::string detail_json;
  };
  gtpc::Refusal check(const gtpc::AttachAsk& ask, const core::Thing& t) const;
  uint32_t allocate_teid();
  void touched(core::ThingSlot slot);

  Service::Impl& s_;
  uint32_t next_teid_ = 1;
  std::vector<core::ThingSlot> touched_;  // to store and republish at flush()
  std::vector<PendingEvent> events_;
};

// The APN's network identifier: lower case, without an operator identifier suffix
// (".mncNNN.mccNNN.gprs", TS 23.003 9.1.2), so "IoT.Example.mnc008.mcc204.gprs" names the
// same APN as "iot.example".
std::string apn_network_identifier(std::string_view apn);

}  // namespace simcore::ctl
