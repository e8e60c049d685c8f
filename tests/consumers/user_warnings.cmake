# Included by each consumer project after it defines its `consumer` program: the warnings a careful
# user turns on for their own code, as errors, so that a warning cascade's headers raise in user
# code (say a shadowed name when the model is a plain function) fails the consumer's build. The
# same program is also built at C++20, where cascade's headers take their concepts path.
if(MSVC)
  set(_user_warnings /W4 /WX)
else()
  set(_user_warnings -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Werror)
endif()
target_compile_options(consumer PRIVATE ${_user_warnings})

if(cxx_std_20 IN_LIST CMAKE_CXX_COMPILE_FEATURES)
  add_executable(consumer_cxx20 ../consumer.cpp)
  target_link_libraries(consumer_cxx20 PRIVATE cascade::cascade)
  target_compile_features(consumer_cxx20 PRIVATE cxx_std_20)
  target_compile_options(consumer_cxx20 PRIVATE ${_user_warnings})
  add_test(NAME consumer_cxx20 COMMAND consumer_cxx20)
endif()
