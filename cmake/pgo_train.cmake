# Run by cmake/pgo.cmake's custom command: builds the instrumented hop in PGO_DIR/gen,
# trains it with TRAIN, and leaves the profile in PGO_DIR/data and a stamp file.
file(REMOVE_RECURSE ${PGO_DIR}/data)
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${PGO_DIR}/gen -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release
          -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_C_COMPILER=${CC} "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
          "-DCMAKE_C_FLAGS=${C_FLAGS}" "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}" "-DCMAKE_PREFIX_PATH=${PREFIX_PATH}"
          -DHOP_TESTS=OFF -DHOP_PGO=OFF
          -DHOP_PGO_INSTRUMENT=ON -DHOP_PGO_DATA=${PGO_DIR}/data
  OUTPUT_QUIET RESULT_VARIABLE rc)
# The outer build's -j does not reach a nested build: give it the machine's cores.
cmake_host_system_information(RESULT cores QUERY NUMBER_OF_LOGICAL_CORES)
if(rc EQUAL 0)
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${PGO_DIR}/gen --target hop --parallel ${cores} RESULT_VARIABLE rc)
endif()
if(rc EQUAL 0)
  execute_process(COMMAND ${TRAIN} ${PGO_DIR}/gen/hop RESULT_VARIABLE rc)
endif()
if(NOT rc EQUAL 0)
  # A build that cannot train (no loopback, say) is still a correct build, only slower.
  # The stamp is still written, so the build does not retry (and rebuild) every time.
  message(WARNING "PGO training failed (${rc}): hop is compiled without profile counts. "
                  "Delete ${PGO_DIR} to try again.")
  file(REMOVE_RECURSE ${PGO_DIR}/data)
endif()
file(TOUCH ${PGO_DIR}/profile.stamp)
