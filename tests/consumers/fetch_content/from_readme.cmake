# Gets cascade with the FetchContent lines of README.md, read from the README itself (its
# ```cmake block after "**FetchContent**", less the line that links the user's `my_app`), so that
# the lines users copy are the lines tested. Their placeholder <cascade git URL> becomes a git
# repository made here from CASCADE_SOURCE_DIR: its build files and headers committed on a branch
# `main`. The clone is local, so nothing comes from the network, and what is tested is the source
# tree as it is, committed or not, with or without a .git of its own.
find_package(Git REQUIRED)

function(run_git)
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${_repository}" -c user.name=cascade
                          -c user.email=cascade@localhost -c commit.gpgsign=false ${ARGN}
                  RESULT_VARIABLE _status OUTPUT_QUIET ERROR_VARIABLE _error)
  if(NOT _status EQUAL 0)
    message(FATAL_ERROR "consumer: git ${ARGN} failed in ${_repository}: ${_error}")
  endif()
endfunction()

set(_repository "${CMAKE_CURRENT_BINARY_DIR}/cascade-repository")
# A fresh repository and a fresh clone at every configure: commits of earlier runs are unrelated.
file(REMOVE_RECURSE "${_repository}" "${CMAKE_CURRENT_BINARY_DIR}/_deps")
file(MAKE_DIRECTORY "${_repository}")
foreach(entry CMakeLists.txt LICENSE README.md cmake include)
  file(COPY "${CASCADE_SOURCE_DIR}/${entry}" DESTINATION "${_repository}")
endforeach()
run_git(init --quiet)
run_git(symbolic-ref HEAD refs/heads/main)
run_git(add --all)
run_git(commit --quiet --no-verify -m "cascade source tree")

file(READ "${CASCADE_SOURCE_DIR}/README.md" _readme)
string(FIND "${_readme}" "**FetchContent**" _heading)
if(_heading EQUAL -1)
  message(FATAL_ERROR "consumer: README.md has no **FetchContent** part")
endif()
string(SUBSTRING "${_readme}" ${_heading} -1 _readme)
string(FIND "${_readme}" "```cmake\n" _open)
if(_open EQUAL -1)
  message(FATAL_ERROR "consumer: README.md has no ```cmake block after **FetchContent**")
endif()
math(EXPR _open "${_open} + 9")
string(SUBSTRING "${_readme}" ${_open} -1 _readme)
string(FIND "${_readme}" "```" _close)
string(SUBSTRING "${_readme}" 0 ${_close} _lines)

foreach(needed "FetchContent_Declare(cascade" "FetchContent_MakeAvailable(cascade)" "<cascade git URL>")
  string(FIND "${_lines}" "${needed}" _at)
  if(_at EQUAL -1)
    message(FATAL_ERROR "consumer: README.md's FetchContent block has no ${needed}:\n${_lines}")
  endif()
endforeach()
string(REPLACE "<cascade git URL>" "file://${_repository}" _lines "${_lines}")
string(REGEX REPLACE "target_link_libraries\\(my_app[^\n]*\n" "" _lines "${_lines}")
file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/readme_fetch_content.cmake" "${_lines}")
message(STATUS "consumer: README.md's FetchContent lines, with the URL of the snapshot:\n${_lines}")

# An earlier configuration of this directory may have cached FETCHCONTENT_FULLY_DISCONNECTED ON.
set(FETCHCONTENT_FULLY_DISCONNECTED OFF)
include("${CMAKE_CURRENT_BINARY_DIR}/readme_fetch_content.cmake")
