// control/daemon/openapi_doc.h — control/openapi.yaml as the daemon serves it (GET /openapi.json).
// The YAML is embedded at build time (embed_text.cmake) and converted to JSON once, on first use.
#pragma once

#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "core/result.h"

namespace simcore::ctl {

// Returns control/openapi.yaml as it was at build time.
std::string_view openapi_yaml();

// Returns the document as serialised JSON, converted on the first call and kept (the text is
// immutable); kInternal naming the line when the embedded YAML does not parse. Any thread.
const core::Result<std::string>& openapi_json();

// Returns a YAML text as JSON. Plain scalars resolve by the YAML 1.2 core schema (null, bool,
// int, float, else string); quoted scalars and keys are strings. kInvalidArgument with the
// line on a syntax error. Pure; any thread.
core::Result<boost::json::value> yaml_to_json(std::string_view yaml);

}  // namespace simcore::ctl
