// control/daemon/routes_billing.cc — billing reports: usage and the rate plan per cycle, as jobs.
#include "control/daemon/service_impl.h"

namespace simcore::ctl {

void Service::Impl::register_billing_routes() {}

bool Service::Impl::tick_billing() { return false; }

}  // namespace simcore::ctl
