# Writes IN's bytes into OUT as a C++ function returning them (a raw string literal), so the
# daemon carries a source file without reading it at run time. Used as
#   cmake -DIN=file -DOUT=file.cc -DFUNCTION=ns::name -DHEADER=dir/declaring.h -P embed_text.cmake
# The delimiter must not occur in the text; the build fails if it does.
file(READ "${IN}" text)
set(delim "simcore_embed")
string(FIND "${text}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )${delim}\"")
endif()
string(REGEX REPLACE "::[^:]*$" "" ns "${FUNCTION}")
string(REGEX REPLACE "^.*::" "" fn "${FUNCTION}")
file(WRITE "${OUT}.tmp"
  "// Generated from ${IN} by embed_text.cmake; do not edit.\n"
  "#include \"${HEADER}\"\n\n"
  "#include <string_view>\n\n"
  "namespace ${ns} {\n\n"
  "std::string_view ${fn}() {\n"
  "  static constexpr std::string_view kText = R\"${delim}(${text})${delim}\";\n"
  "  return kText;\n"
  "}\n\n"
  "}  // namespace ${ns}\n")
# Only a changed text touches OUT, so an unchanged document recompiles nothing.
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
