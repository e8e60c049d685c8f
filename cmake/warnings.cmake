# Warnings as errors for cascade's own targets only; never imposed on users of the library.
add_library(cascade_warnings INTERFACE)
if(MSVC)
  target_compile_options(cascade_warnings INTERFACE /W4 /WX /permissive-)
else()
  target_compile_options(cascade_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
    -Wnon-virtual-dtor -Woverloaded-virtual -Wnull-dereference -Werror)
endif()
