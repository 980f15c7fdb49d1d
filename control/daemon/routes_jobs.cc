// control/daemon/routes_jobs.cc — bulk actions: jobs over many Things that run in tick() slices.
#include "control/daemon/service_impl.h"

namespace simcore::ctl {

void Service::Impl::register_job_routes() {}

bool Service::Impl::tick_bulk() { return false; }

}  // namespace simcore::ctl
