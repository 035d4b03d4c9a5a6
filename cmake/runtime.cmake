# The embeddable C/C++ inference library (included by CMakeLists.txt when
# PYRNN_BUILD_RUNTIME is ON): libpyrnn.so + libpyrnn.a (engine + csrc/runtime), the
# installed headers and CMake package (find_package(pyrnn) -> pyrnn::pyrnn), the runtime
# tests, the loader fuzzer and examples/embed.
enable_language(C)
set(CMAKE_C_STANDARD 99)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The engine's own (non per-target) sources, whatever pyrnn_engine lists today.
get_target_property(_pyrnn_engine_sources pyrnn_engine SOURCES)
list(FILTER _pyrnn_engine_sources INCLUDE REGEX "\\.(c|cc|cpp)$")

include(cmake/capi.cmake)  # pyrnn_capi_objects: csrc/runtime/*.cpp, shared with _core

add_library(pyrnn_runtime_objects OBJECT ${_pyrnn_engine_sources})
target_include_directories(pyrnn_runtime_objects PRIVATE csrc/include)
target_compile_definitions(pyrnn_runtime_objects PRIVATE PYRNN_SHARED_BUILD
  $<$<BOOL:${PYRNN_HAVE_AVX2}>:PYRNN_HAVE_AVX2> $<$<BOOL:${PYRNN_HAVE_AVX512}>:PYRNN_HAVE_AVX512>)
set_target_properties(pyrnn_runtime_objects PROPERTIES CXX_VISIBILITY_PRESET hidden)
if(OpenMP_CXX_FOUND)
  target_link_libraries(pyrnn_runtime_objects PRIVATE OpenMP::OpenMP_CXX)
endif()

set(_pyrnn_objects
  $<TARGET_OBJECTS:pyrnn_runtime_objects>
  $<TARGET_OBJECTS:pyrnn_capi_objects>
  $<TARGET_OBJECTS:pyrnn_target_generic>
  $<$<BOOL:${PYRNN_HAVE_AVX2}>:$<TARGET_OBJECTS:pyrnn_target_avx2>>
  $<$<BOOL:${PYRNN_HAVE_AVX512}>:$<TARGET_OBJECTS:pyrnn_target_avx512>>)

# Shared library: exports the C API only (pyrnn_*); the C++ engine stays internal.
add_library(pyrnn SHARED ${_pyrnn_objects})
set_target_properties(pyrnn PROPERTIES
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
  LINKER_LANGUAGE CXX EXPORT_NAME pyrnn)
pyrnn_export_only(pyrnn ${CMAKE_CURRENT_SOURCE_DIR}/csrc/runtime/pyrnn.map)
if(OpenMP_CXX_FOUND)
  target_link_libraries(pyrnn PRIVATE OpenMP::OpenMP_CXX)
endif()

# Static library: the same objects; consumers link libstdc++ (and libgomp) themselves,
# which CMake does for them through pyrnn::pyrnn_static.
add_library(pyrnn_static STATIC ${_pyrnn_objects})
set_target_properties(pyrnn_static PROPERTIES OUTPUT_NAME pyrnn LINKER_LANGUAGE CXX
  EXPORT_NAME pyrnn_static)
if(OpenMP_CXX_FOUND)
  # In the build tree the imported OpenMP target; installed, pyrnnConfig.cmake adds it.
  target_link_libraries(pyrnn_static INTERFACE $<BUILD_INTERFACE:OpenMP::OpenMP_CXX>)
endif()

foreach(_t pyrnn pyrnn_static)
  target_include_directories(${_t} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/csrc/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endforeach()
target_compile_definitions(pyrnn INTERFACE PYRNN_SHARED)
add_library(pyrnn::pyrnn ALIAS pyrnn)
add_library(pyrnn::pyrnn_static ALIAS pyrnn_static)

# ---- install + CMake package ----
install(TARGETS pyrnn pyrnn_static EXPORT pyrnnTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES csrc/include/pyrnn/pyrnn.h csrc/include/pyrnn/pyrnn.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pyrnn)
set(PYRNN_CONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pyrnn)
install(EXPORT pyrnnTargets NAMESPACE pyrnn:: DESTINATION ${PYRNN_CONFIG_DIR})
set(PYRNN_WITH_OPENMP ${OpenMP_CXX_FOUND})
configure_package_config_file(cmake/pyrnnConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/pyrnnConfig.cmake INSTALL_DESTINATION ${PYRNN_CONFIG_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/pyrnnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pyrnnConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/pyrnnConfigVersion.cmake DESTINATION ${PYRNN_CONFIG_DIR})

# ---- tests (ctest) ----
if(PYRNN_BUILD_TESTS)
  enable_testing()
  set(_models ${CMAKE_CURRENT_SOURCE_DIR}/tests/cpp/models)
  # C++: every model against its expected outputs, step/run/batch agreement, errors,
  # threads, no allocation on the step path, the nasty-file corpus.
  add_executable(test_runtime tests/cpp/test_runtime.cpp)
  target_link_libraries(test_runtime PRIVATE pyrnn_static)
  target_include_directories(test_runtime PRIVATE csrc/runtime)
  add_test(NAME test_runtime COMMAND test_runtime ${_models}
    ${CMAKE_CURRENT_SOURCE_DIR}/tests/cpp/corpus)
  # C: the API compiles as C99 and works through the shared library.
  add_executable(test_runtime_c tests/cpp/test_runtime_c.c)
  target_link_libraries(test_runtime_c PRIVATE pyrnn)
  set_target_properties(test_runtime_c PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON
    C_EXTENSIONS OFF)
  add_test(NAME test_runtime_c COMMAND test_runtime_c ${_models})
  # Deterministic mutation fuzzing of the loader, bounded: 20 s, seeds from the models and
  # the corpus.
  add_executable(fuzz_loader tests/cpp/fuzz_loader.cpp)
  target_link_libraries(fuzz_loader PRIVATE pyrnn_static)
  add_test(NAME fuzz_loader_smoke COMMAND fuzz_loader -max_total_time=20 -seed=1
    ${_models} ${CMAKE_CURRENT_SOURCE_DIR}/tests/cpp/corpus)
endif()

# libFuzzer (clang only): cmake -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang
#   -DPYRNN_FUZZ=ON ...; run build/fuzz_loader_libfuzzer -max_total_time=60 CORPUS_DIR
if(PYRNN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PYRNN_FUZZ needs clang (libFuzzer); configure with CMAKE_CXX_COMPILER=clang++")
  endif()
  add_executable(fuzz_loader_libfuzzer tests/cpp/fuzz_loader.cpp)
  target_compile_definitions(fuzz_loader_libfuzzer PRIVATE PYRNN_LIBFUZZER)
  target_compile_options(fuzz_loader_libfuzzer PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_loader_libfuzzer PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_loader_libfuzzer PRIVATE pyrnn_static)
endif()

if(PYRNN_BUILD_EXAMPLES)
  add_subdirectory(examples/embed)
endif()
