# Folders under include/cascade are layers, and a header includes only its own layer and the ones
# below it, so that the architecture reads from the folder names and no arrow runs back up:
#
#   detail/                  internals on the standard library alone
#   core/                    vocabulary types, tiers, Cascade, Router, results, stats
#   verify/, score/          verifiers and difficulty scorers (neither includes the other)
#   eval/, runtime/          evaluation and the production runtime (neither includes the other)
#   integration/             optional integrations
#   *.hpp at the top         umbrellas and the version
#
# A folder's own detail/ belongs to that folder's layer.
# Run as: cmake -DINCLUDE_DIR=<include/cascade> -P check_layers.cmake
set(_rank_detail 0)
set(_rank_core 1)
set(_rank_verify 2)
set(_rank_score 2)
set(_rank_eval 3)
set(_rank_runtime 3)
set(_rank_integration 4)
set(_rank_top 5)

function(layer_of relative out)
  string(REGEX MATCH "^[a-z_]+/" _first "${relative}")
  if(_first STREQUAL "")
    set(${out} top PARENT_SCOPE)
  else()
    string(REGEX REPLACE "/$" "" _first "${_first}")
    set(${out} ${_first} PARENT_SCOPE)
  endif()
endfunction()

file(GLOB_RECURSE _headers RELATIVE "${INCLUDE_DIR}" "${INCLUDE_DIR}/*.hpp")
set(_violations "")
foreach(header IN LISTS _headers)
  layer_of("${header}" _from)
  if(NOT DEFINED _rank_${_from})
    string(APPEND _violations "  ${header}: folder '${_from}' is not a known layer\n")
    continue()
  endif()
  get_filename_component(_dir "${INCLUDE_DIR}/${header}" DIRECTORY)
  file(STRINGS "${INCLUDE_DIR}/${header}" _includes REGEX "^#include \"")
  foreach(line IN LISTS _includes)
    string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" _target "${line}")
    get_filename_component(_absolute "${_dir}/${_target}" ABSOLUTE)
    file(RELATIVE_PATH _included "${INCLUDE_DIR}" "${_absolute}")
    if(NOT EXISTS "${_absolute}")
      string(APPEND _violations "  ${header}: includes ${_target}, which does not exist\n")
      continue()
    endif()
    layer_of("${_included}" _to)
    if(_from STREQUAL "top")
      continue()
    endif()
    if(_rank_${_to} GREATER _rank_${_from} OR
       (_rank_${_to} EQUAL _rank_${_from} AND NOT _to STREQUAL _from))
      string(APPEND _violations "  ${header} (${_from}) includes ${_included} (${_to})\n")
    endif()
  endforeach()
endforeach()
if(_violations)
  message(FATAL_ERROR "cascade: includes that run against the layers:\n${_violations}")
endif()
list(LENGTH _headers _count)
message(STATUS "cascade: ${_count} headers, every include runs down the layers")
