# Installs the build tree BUILD_DIR into a fresh PREFIX and checks what landed there: every header
# of SOURCE_DIR/include/cascade and the package files.
# Run as: cmake -DBUILD_DIR=<dir> -DSOURCE_DIR=<dir> -DPREFIX=<dir> -DINCLUDEDIR=<rel> -DCMAKEDIR=<rel>
#                [-DCONFIG=<cfg>] -P install_into_prefix.cmake
cmake_minimum_required(VERSION 3.16)
file(REMOVE_RECURSE "${PREFIX}")
set(_config)
if(CONFIG)
  set(_config --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${_config}
                RESULT_VARIABLE _result)
if(NOT _result EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${_result})")
endif()

file(GLOB_RECURSE _headers RELATIVE "${SOURCE_DIR}/include" "${SOURCE_DIR}/include/cascade/*.hpp")
set(_expected ${_headers} ${CMAKEDIR}/cascadeConfig.cmake ${CMAKEDIR}/cascadeConfigVersion.cmake
    ${CMAKEDIR}/cascadeTargets.cmake)
set(_missing)
foreach(file IN LISTS _expected)
  if(file MATCHES "^cascade/")
    set(file "${INCLUDEDIR}/${file}")
  endif()
  if(NOT EXISTS "${PREFIX}/${file}")
    list(APPEND _missing "${file}")
  endif()
endforeach()
if(_missing)
  message(FATAL_ERROR "not installed into ${PREFIX}: ${_missing}")
endif()
list(LENGTH _headers _count)
message(STATUS "installed ${_count} headers and the package files into ${PREFIX}")
