// control/daemon/routes_sms.cc — SMS to and from Things, and usage per day.
#include "control/daemon/service_impl.h"

namespace simcore::ctl {

void Service::Impl::register_sms_routes() {}

bool Service::Impl::tick_sms() { return false; }

}  // namespace simcore::ctl
