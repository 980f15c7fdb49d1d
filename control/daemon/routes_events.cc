// control/daemon/routes_events.cc — events, the what-if evaluate call and the OpenAPI document.
#include "control/daemon/service_impl.h"

namespace simcore::ctl {

void Service::Impl::register_event_routes() {}

}  // namespace simcore::ctl
