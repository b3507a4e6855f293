# Installs the library, the public headers and a CMake package config for find_package(mesh).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS mesh EXPORT meshTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mesh DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT meshTargets NAMESPACE mesh:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mesh)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/meshConfig.cmake.in
  ${PROJECT_BINARY_DIR}/meshConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mesh)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/meshConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/meshConfig.cmake ${PROJECT_BINARY_DIR}/meshConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mesh)
