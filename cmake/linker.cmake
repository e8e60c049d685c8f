# cascade's own programs (tests, examples, tools, benchmarks) link with lld or gold when the
# toolchain has one. A full test run links a few hundred executables, and GNU ld takes about twice
# as long as gold and four times as long as lld, more under AddressSanitizer. Never imposed on
# users of the library; CASCADE_FAST_LINKER=OFF keeps the toolchain's default.
option(CASCADE_FAST_LINKER "Link cascade's own programs with lld or gold when available" ON)

add_library(cascade_linker INTERFACE)
if(CASCADE_FAST_LINKER AND NOT MSVC)
  include(CheckCXXSourceCompiles)
  foreach(_linker lld gold)
    string(TOUPPER "${_linker}" _upper)
    set(CMAKE_REQUIRED_LINK_OPTIONS "-fuse-ld=${_linker}")
    set(CMAKE_REQUIRED_QUIET ON)
    check_cxx_source_compiles("int main() { return 0; }" CASCADE_LINKS_WITH_${_upper})
    unset(CMAKE_REQUIRED_LINK_OPTIONS)
    unset(CMAKE_REQUIRED_QUIET)
    if(CASCADE_LINKS_WITH_${_upper})
      target_link_options(cascade_linker INTERFACE "-fuse-ld=${_linker}")
      message(STATUS "cascade: linking tests, examples and tools with ${_linker}")
      break()
    endif()
  endforeach()
endif()
# Every program of cascade's own links cascade_warnings; the choice of linker travels with it.
target_link_libraries(cascade_warnings INTERFACE cascade_linker)
