# Runs PROGRAM with the arguments in ARGS (a list) and checks what it did:
#   EXPECT        (optional) the program exits with 0 and its standard output matches this
#                 regular expression;
#   EXPECT_ERROR  the program exits with another status and its standard error matches this
#                 regular expression.
execute_process(COMMAND "${PROGRAM}" ${ARGS} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(DEFINED EXPECT_ERROR)
  if(status EQUAL 0)
    message(FATAL_ERROR "expected ${PROGRAM} to fail, but it exited with 0")
  endif()
  if(NOT err MATCHES "${EXPECT_ERROR}")
    message(FATAL_ERROR "expected an error matching\n  ${EXPECT_ERROR}\nbut ${PROGRAM} said\n  ${err}")
  endif()
  return()
endif()
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited with ${status}")
endif()
if(EXPECT AND NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "expected the output of ${PROGRAM} to match\n  ${EXPECT}")
endif()
