# ONNX import, part of the cloud library (libautlearn_cloud) and of
# `autlearn import`. Sets AL_ONNX_SOURCES, AL_ONNX_INCLUDES and AL_ONNX_LIBS
# for the cloud library (CMakeLists.txt); when ONNX is off, the sources are
# a stub whose al_model_import_onnx returns AL_EUNSUPPORTED.
#
# Built when protobuf-c (libprotobuf-c-dev), its compiler protoc-c
# (protobuf-c-compiler) and onnx.proto (shipped by python3-onnx) are found;
# AL_ONNX=AUTO (the default) builds it when everything is found, looking
# again at every configure (so installing the packages later is enough);
# -DAL_ONNX=OFF leaves it out, -DAL_ONNX=ON makes a missing piece an error,
# -DAL_ONNX_PROTO=/path/onnx.proto names the schema. The C code for the schema
# is generated at build time into the build directory (never committed). The
# device library (libautlearn) does not depend on any of it.
set(AL_ONNX_FOUND OFF)
if(NOT CMAKE_CROSSCOMPILING)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(PROTOBUF_C QUIET IMPORTED_TARGET libprotobuf-c)
  endif()
  find_program(AL_PROTOC_C protoc-c)
  file(GLOB _al_onnx_dirs /usr/lib/python3/dist-packages/onnx /usr/lib/python3*/dist-packages/onnx
       /usr/local/lib/python3*/dist-packages/onnx /usr/lib/python3*/site-packages/onnx)
  find_file(AL_ONNX_PROTO onnx.proto PATHS ${_al_onnx_dirs} NO_DEFAULT_PATH)
  if(PROTOBUF_C_FOUND AND AL_PROTOC_C AND AL_ONNX_PROTO)
    set(AL_ONNX_FOUND ON)
  endif()
endif()
set(AL_ONNX AUTO CACHE STRING "ONNX import: AUTO, ON or OFF (needs protobuf-c, protoc-c and python3-onnx's onnx.proto)")
set_property(CACHE AL_ONNX PROPERTY STRINGS AUTO ON OFF)
set(_al_onnx_on ${AL_ONNX})
if(AL_ONNX STREQUAL "AUTO")
  set(_al_onnx_on ${AL_ONNX_FOUND})
endif()

if(_al_onnx_on)
  if(NOT AL_ONNX_FOUND)
    message(FATAL_ERROR "AL_ONNX=ON needs libprotobuf-c-dev, protobuf-c-compiler and python3-onnx's onnx.proto "
                        "(found: protobuf-c ${PROTOBUF_C_FOUND}, protoc-c '${AL_PROTOC_C}', onnx.proto '${AL_ONNX_PROTO}')")
  endif()
  message(STATUS "ONNX import: on (${AL_ONNX_PROTO})")
  set(_al_gen ${PROJECT_BINARY_DIR}/onnx)
  get_filename_component(_al_proto_dir ${AL_ONNX_PROTO} DIRECTORY)
  add_custom_command(
    OUTPUT ${_al_gen}/onnx.pb-c.c ${_al_gen}/onnx.pb-c.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_al_gen}
    COMMAND ${AL_PROTOC_C} --proto_path=${_al_proto_dir} --c_out=${_al_gen} ${AL_ONNX_PROTO}
    DEPENDS ${AL_ONNX_PROTO}
    COMMENT "protoc-c: C code for onnx.proto"
    VERBATIM)
  # generated code: not ours to hold to -Werror -Wpedantic
  set_source_files_properties(${_al_gen}/onnx.pb-c.c PROPERTIES COMPILE_OPTIONS "-w")
  set(AL_ONNX_SOURCES ${PROJECT_SOURCE_DIR}/src/cloud/onnx/onnx_import.c ${_al_gen}/onnx.pb-c.c)
  set(AL_ONNX_INCLUDES ${_al_gen})
  # the static protobuf-c when there is one: the CLI then needs no library
  # beyond libc, libm, libz and pthreads (tests/test_privacy.sh checks); an
  # installed libautlearn_cloud.a names autlearn::protobuf_c, which the
  # CMake package defines (cmake/autlearnConfig.cmake.in)
  find_library(AL_PROTOBUF_C_STATIC NAMES libprotobuf-c.a HINTS ${PROTOBUF_C_LIBRARY_DIRS})
  if(AL_PROTOBUF_C_STATIC)
    list(APPEND AL_ONNX_INCLUDES ${PROTOBUF_C_INCLUDE_DIRS})
    set(AL_ONNX_LIBS $<BUILD_INTERFACE:${AL_PROTOBUF_C_STATIC}> $<INSTALL_INTERFACE:autlearn::protobuf_c>)
  else()
    set(AL_ONNX_LIBS $<BUILD_INTERFACE:PkgConfig::PROTOBUF_C> $<INSTALL_INTERFACE:autlearn::protobuf_c>)
  endif()
else()
  message(STATUS "ONNX import: off (autlearn import reports that it is not built)")
  set(AL_ONNX_SOURCES ${PROJECT_SOURCE_DIR}/src/cloud/onnx/onnx_stub.c)
  set(AL_ONNX_INCLUDES "")
  set(AL_ONNX_LIBS "")
endif()
