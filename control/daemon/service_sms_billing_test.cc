#include "control/daemon/service_test_support.h"
