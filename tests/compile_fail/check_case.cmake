# Compiles one compile-fail case and checks the outcome against the case's first line (see
# CMakeLists.txt). Run as: cmake -DSETTINGS=<file> -DCASE=<source> -DSTD=<17|20> -DWORK_DIR=<dir>
#                               [-DEXPECT=<regex>] [-DEXPECT_ERRORS=<n>] -P check_case.cmake
# EXPECT and EXPECT_ERRORS replace the case's own expectations; the harness's self-tests use them.
#
# A refused case must report its mistake once, by cascade's message, with no errors after it from
# the code that goes on to use what was refused: the compiler's output has exactly one line that
# reports an error. A line `// EXPECT-ERRORS: <n>` in the case (by convention the second) states
# another count.
cmake_minimum_required(VERSION 3.16)
include("${SETTINGS}")

file(STRINGS "${CASE}" _first LIMIT_COUNT 1)
if(DEFINED EXPECT)
  set(_expect "${EXPECT}")
elseif(_first MATCHES "^// EXPECT-COMPILES")
  set(_expect "")
elseif(_first MATCHES "^// EXPECT: (.+)$")
  set(_expect "${CMAKE_MATCH_1}")
else()
  message(FATAL_ERROR "${CASE}: the first line must be `// EXPECT: <regex>` or `// EXPECT-COMPILES`")
endif()
set(_expect_errors 1)
if(DEFINED EXPECT_ERRORS)
  set(_expect_errors "${EXPECT_ERRORS}")
else()
  file(STRINGS "${CASE}" _marker LIMIT_COUNT 1 REGEX "^// EXPECT-ERRORS: [0-9]+$")
  if(_marker MATCHES "^// EXPECT-ERRORS: ([0-9]+)$")
    set(_expect_errors "${CMAKE_MATCH_1}")
  endif()
endif()

get_filename_component(_name "${CASE}" NAME_WE)
file(MAKE_DIRECTORY "${WORK_DIR}")
set(_object "${WORK_DIR}/${_name}.cxx${STD}.o")
file(REMOVE "${_object}")
# Untranslated diagnostics with plain quotes, whatever the user's locale.
set(ENV{LC_ALL} C)
set(_command "${CASE_COMPILER}" ${CASE_STD_${STD}} ${CASE_FLAGS} "-I${CASE_INCLUDE_DIR}" -c "${CASE}" -o "${_object}")
execute_process(COMMAND ${_command} RESULT_VARIABLE _result OUTPUT_VARIABLE _output ERROR_VARIABLE _output)
list(JOIN _command " " _shown)

# The compiler's output goes out verbatim (a FATAL_ERROR message would be re-wrapped).
function(fail why)
  message("${_shown}\n${_output}")
  message(FATAL_ERROR "${_name} (C++${STD}): ${why}")
endfunction()

if(_expect STREQUAL "")
  if(NOT _result EQUAL 0)
    fail("must compile, but did not")
  endif()
  message(STATUS "${_name} (C++${STD}) compiles, as expected")
  return()
endif()

if(_result EQUAL 0)
  fail("compiled, but must not (expected: ${_expect})")
endif()
# A line that reports an error: "error:" as a word ("fatal error:" and "error C1234:" count too,
# identifiers such as model_error do not).
set(_error_line "(^|\n)(([^\n]*[^A-Za-z0-9_\n])?error( [A-Z]+[0-9]+)?:[^\n]*)")
# The first one must be cascade's own message.
string(REGEX MATCH "${_error_line}" _ "${_output}")
set(_line "${CMAKE_MATCH_2}")
if(_line STREQUAL "")
  fail("failed without an error line (result ${_result})")
endif()
if(NOT _line MATCHES "cascade::" OR NOT _line MATCHES "${_expect}")
  fail("the first error does not match `${_expect}`; it is\n  ${_line}")
endif()
# Counted in a copy without semicolons: each would split a match in two in a CMake list.
string(REPLACE ";" "," _plain_output "${_output}")
string(REGEX MATCHALL "${_error_line}" _errors "${_plain_output}")
list(LENGTH _errors _error_count)
if(NOT _error_count EQUAL _expect_errors)
  fail("gave ${_error_count} error lines, expected ${_expect_errors}")
endif()
message(STATUS "${_name} (C++${STD}) refused as expected, ${_error_count} error line(s):\n  ${_line}")
