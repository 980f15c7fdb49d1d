// dataplane/testing/tshark.h — tshark, the independent decoder our emitted packets are
// checked against, from tests: fields of the frames a display filter selects, and the frames
// it calls malformed or flags with an error-level expert info.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace simcore::dp::testing {

// Whether tshark is installed (tests skip their tshark checks otherwise).
bool have_tshark();

// Runs `command` through the shell and returns its stdout (empty on failure).
std::string run_command(const std::string& command);

// One row per frame that `filter` selects, one column per field ("" when absent; tshark joins
// repeated occurrences with ',').
std::vector<std::vector<std::string>> tshark_fields(const std::filesystem::path& file,
                                                    const std::string& filter,
                                                    const std::vector<std::string>& fields);

// The frame numbers tshark finds malformed or flags with an expert info of severity error,
// each with its protocol column and info ("" when none).
std::string tshark_problems(const std::filesystem::path& file);

}  // namespace simcore::dp::testing
