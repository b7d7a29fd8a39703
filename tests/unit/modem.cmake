# Modem tests: the pool on the simulated network and on the exec line.
# Paths are relative to this file so it can be included from anywhere.
# faxfs_modem_test registers the modem, SIP and system tests alike
# (sip.cmake and system.cmake are included after this file).
set(MODEM_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

# faxfs_modem_test(NAME <test> SOURCES <files> LIBS <libs> LABELS <labels>
#                  TIMEOUT <s> [DEFINES <definitions>] [DEPENDS <targets>])
# One cmocka test: the executable test_<test> built from SOURCES, linked
# with LIBS and cmocka, registered as <test>.
#
# With SPLIT, each case of the first source's tests[] table is its own ctest
# test, <test>.<case> (the binary runs the case named by its argument), so
# the long real-time cases run in parallel. The case list is read from the
# source at configure time; editing the source configures again.
function(faxfs_modem_test)
  cmake_parse_arguments(T "SPLIT" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;DEFINES;DEPENDS" ${ARGN})
  add_executable(test_${T_NAME} ${T_SOURCES})
  target_link_libraries(test_${T_NAME} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  if(T_DEFINES)
    target_compile_definitions(test_${T_NAME} PRIVATE ${T_DEFINES})
  endif()
  if(T_DEPENDS)
    add_dependencies(test_${T_NAME} ${T_DEPENDS})
  endif()
  if(NOT T_SPLIT)
    add_test(NAME ${T_NAME} COMMAND test_${T_NAME})
    set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
    return()
  endif()
  list(GET T_SOURCES 0 src)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
  file(STRINGS ${src} lines REGEX "cmocka_unit_test(_setup_teardown)?\\(test_[a-z0-9_]+")
  set(cases)
  foreach(line IN LISTS lines)
    string(REGEX MATCH "\\(test_([a-z0-9_]+)" m "${line}")
    list(APPEND cases ${CMAKE_MATCH_1})
  endforeach()
  if(NOT cases)
    message(FATAL_ERROR "${T_NAME}: no cmocka cases found in ${src}")
  endif()
  foreach(c IN LISTS cases)
    add_test(NAME ${T_NAME}.${c} COMMAND test_${T_NAME} test_${c})
    # A name that matches no case runs nothing: that is a failure.
    set_tests_properties(${T_NAME}.${c} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
                         FAIL_REGULAR_EXPRESSION "Running 0 test" COST 100)
  endforeach()
endfunction()

add_library(modem_testlib STATIC ${MODEM_TEST_DIR}/modem_testlib.c)
target_link_libraries(modem_testlib PUBLIC faxfs_modem faxfs_faxtest Threads::Threads)

faxfs_modem_test(NAME modem_sim SOURCES ${MODEM_TEST_DIR}/test_modem_sim.c LIBS modem_testlib
                 LABELS unit TIMEOUT 600)

# The far end of the exec line in tests: a spandsp receiver on stdin/stdout.
add_executable(modem_exec_bridge ${MODEM_TEST_DIR}/modem_exec_bridge.c)
target_link_libraries(modem_exec_bridge PRIVATE PkgConfig::SPANDSP PkgConfig::TIFF)

faxfs_modem_test(NAME modem_exec SOURCES ${MODEM_TEST_DIR}/test_modem_exec.c LIBS modem_testlib
                 LABELS unit TIMEOUT 300
                 DEFINES MODEM_EXEC_BRIDGE="$<TARGET_FILE:modem_exec_bridge>" DEPENDS modem_exec_bridge)

# Receiving: the simulated network loops back to our own inbound side.
faxfs_modem_test(NAME modem_receive SOURCES ${MODEM_TEST_DIR}/test_modem_receive.c LIBS modem_testlib
                 LABELS unit TIMEOUT 300)

# The AudioSocket listener against in-test remotes, well-behaved and hostile.
faxfs_modem_test(NAME modem_audiosocket SPLIT SOURCES ${MODEM_TEST_DIR}/test_modem_audiosocket.c LIBS modem_testlib
                 LABELS unit TIMEOUT 600)

# The HDLC guard in front of real spandsp calls, audio and T.38: hostile frames
# slipped in where spandsp 0.0.6 would crash on them.
faxfs_modem_test(NAME modem_hdlc_guard SOURCES ${MODEM_TEST_DIR}/test_modem_hdlc_guard.c
                 LIBS faxfs_modem faxfs_faxtest LABELS unit TIMEOUT 60)

# Who may call: allowed peers (CIDR), calls per source, the refusal log
# throttle and the symmetric RTP rule.
faxfs_modem_test(NAME modem_admission SOURCES ${MODEM_TEST_DIR}/test_modem_admission.c LIBS faxfs_modem
                 LABELS unit TIMEOUT 60)

# The HOST:PORT reader shared by the AudioSocket listener and the SIP agent.
faxfs_modem_test(NAME modem_hostport SOURCES ${MODEM_TEST_DIR}/test_modem_hostport.c LIBS faxfs_modem
                 LABELS unit TIMEOUT 60)

# Batching: several documents in one call (T.30 EOM), each reported on its own.
faxfs_modem_test(NAME modem_batch SOURCES ${MODEM_TEST_DIR}/test_modem_batch.c LIBS modem_testlib
                 LABELS unit TIMEOUT 600)
