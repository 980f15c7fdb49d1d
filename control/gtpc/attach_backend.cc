#include "control/gtpc/attach_backend.h"

namespace simcore::gtpc {

const char* refusal_name(Refusal r) {
  switch (r) {
    case Refusal::kNone: return "accepted";
    case Refusal::kUnknownImsi: return "unknown_imsi";
    case Refusal::kNotActive: return "not_active";
    case Refusal::kDataOff: return "data_off";
    case Refusal::kUnknownApn: return "unknown_apn";
    case Refusal::kRatNotAllowed: return "rat_not_allowed";
    case Refusal::kRoamingNotAllowed: return "roaming_not_allowed";
    case Refusal::kImeiLocked: return "imei_locked";
    case Refusal::kNoAddress: return "no_address";
    case Refusal::kSystemFailure: return "system_failure";
  }
  return "unknown";
}

}  // namespace simcore::gtpc
