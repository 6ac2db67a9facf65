# Profile-guided optimisation (docs/performance.md, "Profile-guided optimisation").
#
# A release build compiles hop twice: first instrumented (-fprofile-generate, in
# <build>/pgo/gen), then tools/pgo/train.cc drives that binary through the common request
# paths, then the real build compiles every file with the counts it recorded
# (-fprofile-use). GCC then knows which branches are taken and which code is hot, and lays
# the binary out for it. Code the training never ran (DNS, TLS, HTTP/2, ...) is compiled
# exactly as without a profile (-fprofile-partial-training), never for size.
#
# The profile is made once per build directory: later incremental builds reuse it, and a
# function edited since is compiled without its (now stale) counts. Delete <build>/pgo to
# train again. If training fails the build goes on without counts and says so.
#
# HOP_PGO (default ON) applies to GCC single-configuration Release builds without
# sanitizers; any other build ignores it, re-decided at every configure, so switching a
# build directory's type switches PGO with it.

option(HOP_PGO "Profile-guided optimisation of GCC Release builds" ON)
# Internal: set by the outer build for <build>/pgo/gen.
option(HOP_PGO_INSTRUMENT "Build instrumented for PGO training (internal)" OFF)
set(HOP_PGO_DATA "" CACHE PATH "Where the instrumented build writes its profile (internal)")
set(HOP_PGO_ACTIVE OFF)
if(HOP_PGO AND NOT HOP_PGO_INSTRUMENT)
  if(CMAKE_BUILD_TYPE STREQUAL "Release" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND NOT HOP_SANITIZE AND
     NOT HOP_FUZZ)
    set(HOP_PGO_ACTIVE ON)
  else()
    message(STATUS "PGO: off (only for GCC Release builds without sanitizers)")
  endif()
endif()

# Object files are named relative to their build directory in the profile, so the
# instrumented and the final build, in different directories, find each other's counts.
if(HOP_PGO_INSTRUMENT)
  add_compile_options(-fprofile-generate=${HOP_PGO_DATA} -fprofile-prefix-path=${CMAKE_BINARY_DIR}
                      -fprofile-update=prefer-atomic)
  add_link_options(-fprofile-generate=${HOP_PGO_DATA})
elseif(HOP_PGO_ACTIVE)
  message(STATUS "PGO: on (the first build trains an instrumented hop; -DHOP_PGO=OFF skips it)")
  set(HOP_PGO_DIR ${CMAKE_BINARY_DIR}/pgo)
  set(HOP_PGO_STAMP ${HOP_PGO_DIR}/profile.stamp)
  # ccache would have to find the profile behind -fprofile-prefix-path to hash it; rather
  # than trust that, the profiled compile is not cached.
  unset(CMAKE_CXX_COMPILER_LAUNCHER)
  unset(CMAKE_C_COMPILER_LAUNCHER)
  add_executable(pgo_train tools/pgo/train.cc)
  add_custom_command(
    OUTPUT ${HOP_PGO_STAMP}
    COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${CMAKE_SOURCE_DIR} -DPGO_DIR=${HOP_PGO_DIR}
            -DTRAIN=$<TARGET_FILE:pgo_train> -DGENERATOR=${CMAKE_GENERATOR}
            -DCXX=${CMAKE_CXX_COMPILER} -DCC=${CMAKE_C_COMPILER} "-DCXX_FLAGS=${CMAKE_CXX_FLAGS}"
            "-DC_FLAGS=${CMAKE_C_FLAGS}" "-DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}" "-DPREFIX_PATH=${CMAKE_PREFIX_PATH}"
            -P ${CMAKE_SOURCE_DIR}/cmake/pgo_train.cmake
    DEPENDS pgo_train ${CMAKE_SOURCE_DIR}/cmake/pgo_train.cmake
    COMMENT "PGO: building an instrumented hop and training it (once per build directory)"
    USES_TERMINAL VERBATIM)
  add_custom_target(pgo_profile DEPENDS ${HOP_PGO_STAMP})
  add_compile_options(-fprofile-use=${HOP_PGO_DIR}/data -fprofile-prefix-path=${CMAKE_BINARY_DIR}
                      -fprofile-partial-training -Wno-missing-profile -Wno-coverage-mismatch)
endif()

# Every hop library and the executable wait for the profile, and recompile when it changes.
function(hop_pgo_use target)
  if(HOP_PGO_ACTIVE)
    add_dependencies(${target} pgo_profile)
    get_target_property(srcs ${target} SOURCES)
    set_source_files_properties(${srcs} PROPERTIES OBJECT_DEPENDS ${HOP_PGO_STAMP})
  endif()
endfunction()
