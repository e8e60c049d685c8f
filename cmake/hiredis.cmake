# hiredis for the Redis integration (include/cascade/integration/redis/): makes the imported
# target hiredis::hiredis available when it can, with <hiredis/hiredis.h> as the include spelling
# (see below for the one exception). Tried in turn:
#   1. hiredis 1.x's own CMake package (find_package(hiredis)), which defines hiredis::hiredis;
#   2. Debian's HiredisConfig.cmake (libhiredis-dev 0.14), which only sets variables;
#   3. pkg-config's hiredis.pc;
#   4. with CASCADE_FETCH_DEPS=ON, a download of hiredis 1.2.0 built as a static library.
# Nothing is downloaded unless CASCADE_FETCH_DEPS is ON. Without hiredis, one line says what the
# build leaves out. Include it wherever hiredis::hiredis is needed: the search runs once, and the
# target is global, so every directory sees it.
include_guard(GLOBAL)

set(_cascade_hiredis_how "")
if(TARGET hiredis::hiredis)
  set(_cascade_hiredis_how "defined by the including project")
endif()

if(NOT _cascade_hiredis_how)
  find_package(hiredis CONFIG QUIET)
  if(TARGET hiredis::hiredis)
    # The package's targets belong to this directory; the tests and header checks live in others.
    get_target_property(_cascade_hiredis_imported hiredis::hiredis IMPORTED)
    get_target_property(_cascade_hiredis_aliased hiredis::hiredis ALIASED_TARGET)
    if(_cascade_hiredis_imported AND NOT _cascade_hiredis_aliased)
      set_target_properties(hiredis::hiredis PROPERTIES IMPORTED_GLOBAL TRUE)
    endif()
    set(_cascade_hiredis_how "hiredis ${hiredis_VERSION}, from its CMake package in ${hiredis_DIR}")
  endif()
endif()

if(NOT _cascade_hiredis_how)
  # Debian's version file fails when no version is asked for, so ask for the oldest it can match.
  find_package(Hiredis 0.14 CONFIG QUIET)
  if(Hiredis_FOUND AND HIREDIS_INCLUDE_DIRS AND HIREDIS_LIBRARIES)
    add_library(hiredis::hiredis INTERFACE IMPORTED GLOBAL)
    set_target_properties(hiredis::hiredis PROPERTIES
                          INTERFACE_INCLUDE_DIRECTORIES "${HIREDIS_INCLUDE_DIRS}"
                          INTERFACE_LINK_LIBRARIES "${HIREDIS_LIBRARIES}")
    set(_cascade_hiredis_how "hiredis ${Hiredis_VERSION}, from Debian's CMake variables")
  endif()
endif()

if(NOT _cascade_hiredis_how)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(CASCADE_HIREDIS QUIET IMPORTED_TARGET GLOBAL hiredis)
  endif()
  if(TARGET PkgConfig::CASCADE_HIREDIS)
    # hiredis.pc points into the hiredis/ folder; <hiredis/hiredis.h> needs the folder above it.
    set(_cascade_hiredis_parents)
    foreach(_cascade_hiredis_dir IN LISTS CASCADE_HIREDIS_INCLUDE_DIRS)
      get_filename_component(_cascade_hiredis_parent "${_cascade_hiredis_dir}" DIRECTORY)
      if(EXISTS "${_cascade_hiredis_parent}/hiredis/hiredis.h")
        list(APPEND _cascade_hiredis_parents "${_cascade_hiredis_parent}")
      endif()
    endforeach()
    if(_cascade_hiredis_parents)
      set_property(TARGET PkgConfig::CASCADE_HIREDIS APPEND PROPERTY
                   INTERFACE_INCLUDE_DIRECTORIES ${_cascade_hiredis_parents})
    endif()
    add_library(hiredis::hiredis ALIAS PkgConfig::CASCADE_HIREDIS)
    set(_cascade_hiredis_how "hiredis ${CASCADE_HIREDIS_VERSION}, from pkg-config")
  endif()
endif()

if(NOT _cascade_hiredis_how AND CASCADE_FETCH_DEPS)
  message(STATUS "cascade: hiredis not installed; fetching and building it (CASCADE_FETCH_DEPS=ON)")
  include(FetchContent)
  # The sources go into a folder named hiredis, so that its parent gives <hiredis/hiredis.h> as an
  # installed hiredis does. A function keeps hiredis's settings out of the including scope.
  function(_cascade_fetch_hiredis)
    set(CMAKE_POLICY_DEFAULT_CMP0077 NEW)  # hiredis's option()s keep the values set here
    set(CMAKE_POLICY_VERSION_MINIMUM 3.5)  # it asks for CMake 3.0, which CMake 4 refuses
    set(CMAKE_WARN_DEPRECATED OFF)
    set(BUILD_SHARED_LIBS OFF)
    set(DISABLE_TESTS ON)
    set(ENABLE_EXAMPLES OFF)
    set(ENABLE_SSL OFF)
    FetchContent_Declare(hiredis
      GIT_REPOSITORY https://github.com/redis/hiredis.git
      GIT_TAG v1.2.0
      GIT_SHALLOW TRUE
      SOURCE_DIR "${FETCHCONTENT_BASE_DIR}/hiredis-src/hiredis")
    FetchContent_MakeAvailable(hiredis)
    set(_cascade_hiredis_source "${hiredis_SOURCE_DIR}" PARENT_SCOPE)
  endfunction()
  _cascade_fetch_hiredis()
  if(TARGET hiredis)
    # Consumers see the folder above the sources, where <hiredis/hiredis.h> is, unless the sources
    # were given in a folder of another name (FETCHCONTENT_SOURCE_DIR_HIREDIS): then <hiredis.h>.
    get_filename_component(_cascade_hiredis_include "${_cascade_hiredis_source}" DIRECTORY)
    if(NOT EXISTS "${_cascade_hiredis_include}/hiredis/hiredis.h")
      set(_cascade_hiredis_include "${_cascade_hiredis_source}")
    endif()
    # Its headers are not ours: keep our warnings-as-errors away from them.
    set(_cascade_hiredis_include "$<BUILD_INTERFACE:${_cascade_hiredis_include}>")
    set_target_properties(hiredis PROPERTIES
                          INTERFACE_INCLUDE_DIRECTORIES "$<INSTALL_INTERFACE:include>;${_cascade_hiredis_include}"
                          INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_cascade_hiredis_include}")
    if(NOT TARGET hiredis::hiredis)
      add_library(hiredis::hiredis ALIAS hiredis)
    endif()
    set(_cascade_hiredis_how "hiredis 1.2.0, fetched")
  endif()
endif()

if(_cascade_hiredis_how)
  message(STATUS "cascade: Redis integration tested with ${_cascade_hiredis_how}")
elseif(CASCADE_FETCH_DEPS)
  message(STATUS "cascade: Redis integration tests skipped: hiredis could not be fetched")
else()
  message(STATUS "cascade: Redis integration tests skipped: hiredis not found "
                 "(e.g. libhiredis-dev, or -DCASCADE_FETCH_DEPS=ON)")
endif()
