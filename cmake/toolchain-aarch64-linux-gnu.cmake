# Cross-compiling for 64-bit ARM Linux with Debian's cross toolchain:
#   apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
#   dpkg --add-architecture arm64 && apt-get update && apt-get install zlib1g-dev:arm64
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake
# The binaries run here under user-mode QEMU (qemu-user): `qemu-aarch64 prog`, or with
# ctest, which uses the emulator set below (make test-arm runs the unit tests so). For Android use the NDK's own
# toolchain file instead (docs/ARM.md).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(AL_CROSS_TRIPLE aarch64-linux-gnu CACHE STRING "GNU triple of the cross toolchain")
set(CMAKE_C_COMPILER ${AL_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${AL_CROSS_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${AL_CROSS_TRIPLE})

# Libraries and headers come from the cross sysroot (libc) and from Debian's
# multiarch directories (/usr/lib/aarch64-linux-gnu: zlib1g-dev:arm64); never
# from the host's x86-64 directories, which CMake then does not search
# because the library architecture is aarch64-linux-gnu. Programs (cmake's
# helpers, pkg-config) are the host's.
set(CMAKE_FIND_ROOT_PATH /usr/${AL_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# try_run and the tests (ctest) go through the emulator when there is one.
# Its library prefix (-L) must hold a dynamic loader of the same glibc build
# as the libc.so.6 it will find: with Debian's multiarch libc6:arm64 installed
# (zlib1g-dev:arm64 pulls it in) that is / itself, since the loader reads the
# host's ld.so.cache, which lists /lib/aarch64-linux-gnu. The cross sysroot's
# older loader with the multiarch libc hangs in start-up.
find_program(AL_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(AL_QEMU_AARCH64)
  if(EXISTS /lib/ld-linux-aarch64.so.1)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${AL_QEMU_AARCH64};-L;/)
  else()
    set(CMAKE_CROSSCOMPILING_EMULATOR ${AL_QEMU_AARCH64};-L;/usr/${AL_CROSS_TRIPLE})
  endif()
endif()
