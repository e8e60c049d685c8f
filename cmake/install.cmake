# Install rules and the package config, so that users can
#
#     find_package(cascade 0.1 CONFIG REQUIRED)
#     target_link_libraries(app PRIVATE cascade::cascade)
#
# after `cmake --install <build> --prefix <prefix>`. The library is header-only, so the package
# is architecture-independent and its CMake files go under the data directory (share/), where one
# install serves every architecture.
include(CMakePackageConfigHelpers)

set(CASCADE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/cascade"
    CACHE STRING "Where cascade's CMake package files are installed, relative to the prefix")
mark_as_advanced(CASCADE_INSTALL_CMAKEDIR)

# Every header, detail/ and the optional integrations included: a header the umbrella does not
# include is still part of the library.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/cascade"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp")

install(TARGETS cascade EXPORT cascadeTargets)
install(EXPORT cascadeTargets
        NAMESPACE cascade::
        FILE cascadeTargets.cmake
        DESTINATION "${CASCADE_INSTALL_CMAKEDIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/cascadeConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/cascadeConfig.cmake"
                              INSTALL_DESTINATION "${CASCADE_INSTALL_CMAKEDIR}")
# 0.x releases promise what 1.x will: a minor version only adds; a new major may break.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/cascadeConfigVersion.cmake"
                                 VERSION "${PROJECT_VERSION}"
                                 COMPATIBILITY SameMajorVersion
                                 ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/cascadeConfig.cmake"
              "${PROJECT_BINARY_DIR}/cascadeConfigVersion.cmake"
        DESTINATION "${CASCADE_INSTALL_CMAKEDIR}")

if(EXISTS "${PROJECT_SOURCE_DIR}/LICENSE")
  install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/cascade")
endif()
