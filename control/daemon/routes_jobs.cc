// control/daemon/routes_jobs.cc — bulk actions and billing reports: jobs that run in tick().
#include "control/daemon/service_impl.h"

namespace simcore::ctl {

void Service::Impl::register_job_routes() {}

bool Service::Impl::tick_jobs() { return false; }

}  // namespace simcore::ctl
