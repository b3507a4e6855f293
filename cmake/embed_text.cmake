# cmake -DINPUT=file -DOUTPUT=file.cpp -DFUNCTION=name -P embed_text.cmake
#
# Writes a C++ source defining `std::string_view mesh::detail::embedded::FUNCTION()` that returns
# INPUT's bytes, as a raw string literal: the page stays an ordinary file to edit, and the binary
# needs nothing at run time. Rerun by the build whenever INPUT changes.
file(READ "${INPUT}" text)
set(delimiter "mesh_embed")
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains )${delimiter}\", which would end the raw string")
endif()
file(RELATIVE_PATH source "${CMAKE_CURRENT_LIST_DIR}/.." "${INPUT}")
set(content "// Generated from ${source} by cmake/embed_text.cmake: edit that file, not this one.
#include <string_view>

namespace mesh::detail::embedded {

std::string_view ${FUNCTION}() {
  return R\"${delimiter}(${text})${delimiter}\";
}

}  // namespace mesh::detail::embedded
")
file(WRITE "${OUTPUT}" "${content}")
