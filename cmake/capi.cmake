# The C API's own sources (loader, JSON, safetensors, pyrnn.h's functions), compiled once
# and linked into whatever needs them: the runtime libraries (cmake/runtime.cmake) and the
# Python module _core (whose benchmark times the real C API). The engine is not in here.
include_guard(GLOBAL)

add_library(pyrnn_capi_objects OBJECT
  csrc/runtime/json.cpp
  csrc/runtime/safetensors.cpp
  csrc/runtime/model.cpp
  csrc/runtime/capi.cpp)
target_include_directories(pyrnn_capi_objects PRIVATE csrc/include csrc/runtime)
# PYRNN_SHARED_BUILD: pyrnn.h's PYRNN_API exports the C API from a DLL (Windows only).
target_compile_definitions(pyrnn_capi_objects PRIVATE PYRNN_SHARED_BUILD)
set_target_properties(pyrnn_capi_objects PROPERTIES CXX_VISIBILITY_PRESET hidden)
