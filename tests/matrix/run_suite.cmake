# Configures, builds and tests cascade in a nested build tree: one entry of the test matrix.
# Run as: cmake -DSOURCE_DIR=<dir> -DBINARY_DIR=<dir> -DGENERATOR=<name> [-DMAKE_PROGRAM=<path>]
#               -DCOMPILER=<c++> [-DFLAGS=<flags>] [-DBUILD_TYPE=<type>] -DSTANDARDS=<17,20>
#               [-DCHECK_HEADERS=<ON|OFF>] [-DEXCLUDE_LABELS=<regex>] [-DONLY_LABEL=<label>]
#               [-DCONSUMERS=<kind,...>] [-DMISSING=<why>]
#               -P run_suite.cmake
cmake_minimum_required(VERSION 3.16)
if(MISSING)
  message(FATAL_ERROR "matrix: ${MISSING}")
endif()

# The settings go through an initial cache file, so that lists survive and a second run of the
# same entry reuses the tree with exactly these settings.
string(REPLACE "," ";" STANDARDS "${STANDARDS}")
if(NOT DEFINED CHECK_HEADERS OR CHECK_HEADERS STREQUAL "")
  set(CHECK_HEADERS ON)
endif()
# A build of only the tests with one label leaves out the tools. It keeps the examples, which the
# end-to-end tests run; examples/ then builds only those.
if(ONLY_LABEL)
  set(TOOLS OFF)
else()
  set(TOOLS ON)
endif()
set(_init "${BINARY_DIR}-settings.cmake")
file(WRITE "${_init}" "\
set(CMAKE_CXX_COMPILER [[${COMPILER}]] CACHE FILEPATH \"\" FORCE)
set(CMAKE_CXX_FLAGS [[${FLAGS}]] CACHE STRING \"\" FORCE)
set(CMAKE_BUILD_TYPE [[${BUILD_TYPE}]] CACHE STRING \"\" FORCE)
set(CASCADE_TEST_STANDARDS [[${STANDARDS}]] CACHE STRING \"\" FORCE)
set(CASCADE_CHECK_HEADERS ${CHECK_HEADERS} CACHE BOOL \"\" FORCE)
set(CASCADE_TEST_MATRIX OFF CACHE BOOL \"\" FORCE)
set(CASCADE_BUILD_BENCHMARKS OFF CACHE BOOL \"\" FORCE)
set(CASCADE_BUILD_TESTS ON CACHE BOOL \"\" FORCE)
set(CASCADE_BUILD_EXAMPLES ON CACHE BOOL \"\" FORCE)
set(CASCADE_BUILD_TOOLS ${TOOLS} CACHE BOOL \"\" FORCE)
set(CASCADE_TEST_ONLY_LABEL [[${ONLY_LABEL}]] CACHE STRING \"\" FORCE)
")
if(CONSUMERS)
  string(REPLACE "," ";" CONSUMERS "${CONSUMERS}")
  file(APPEND "${_init}" "set(CASCADE_TEST_CONSUMERS [[${CONSUMERS}]] CACHE STRING \"\" FORCE)\n")
endif()
if(MAKE_PROGRAM)
  file(APPEND "${_init}" "set(CMAKE_MAKE_PROGRAM [[${MAKE_PROGRAM}]] CACHE FILEPATH \"\" FORCE)\n")
endif()

# Each step says how long it took, so that a slow entry shows where its time goes.
function(run what)
  message(STATUS "matrix: ${what}")
  string(TIMESTAMP started "%s")
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${BINARY_DIR}" RESULT_VARIABLE result)
  string(TIMESTAMP finished "%s")
  math(EXPR seconds "${finished} - ${started}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "matrix: ${what} failed (${result}) after ${seconds} s in ${BINARY_DIR}")
  endif()
  message(STATUS "matrix: ${what}: ${seconds} s")
endfunction()

file(MAKE_DIRECTORY "${BINARY_DIR}")
run("configure with ${COMPILER} ${FLAGS}, C++ ${STANDARDS}"
    "${CMAKE_COMMAND}" -C "${_init}" -G "${GENERATOR}" -S "${SOURCE_DIR}" -B "${BINARY_DIR}")
run("build" "${CMAKE_COMMAND}" --build "${BINARY_DIR}" --parallel 2)

set(_ctest_args --output-on-failure -j2)
if(ONLY_LABEL)
  list(APPEND _ctest_args -L "${ONLY_LABEL}")
endif()
if(EXCLUDE_LABELS)
  list(APPEND _ctest_args -LE "${EXCLUDE_LABELS}")
endif()
if(BUILD_TYPE)
  list(APPEND _ctest_args -C "${BUILD_TYPE}")
endif()
# Run in the build tree rather than with --test-dir, which needs CMake 3.20.
run("test" "${CMAKE_CTEST_COMMAND}" ${_ctest_args})
