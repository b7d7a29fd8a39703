# Modem tests: the pool on the simulated network and on the exec line.
# Paths are relative to this file so it can be included from anywhere.
set(MODEM_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

add_library(modem_testlib STATIC ${MODEM_TEST_DIR}/modem_testlib.c)
target_link_libraries(modem_testlib PUBLIC faxfs_modem faxfs_faxtest Threads::Threads)

add_executable(test_modem_sim ${MODEM_TEST_DIR}/test_modem_sim.c)
target_link_libraries(test_modem_sim PRIVATE modem_testlib PkgConfig::CMOCKA)
add_test(NAME modem_sim COMMAND test_modem_sim)
set_tests_properties(modem_sim PROPERTIES LABELS unit TIMEOUT 600)

# The far end of the exec line in tests: a spandsp receiver on stdin/stdout.
add_executable(modem_exec_bridge ${MODEM_TEST_DIR}/modem_exec_bridge.c)
target_link_libraries(modem_exec_bridge PRIVATE PkgConfig::SPANDSP PkgConfig::TIFF)

add_executable(test_modem_exec ${MODEM_TEST_DIR}/test_modem_exec.c)
target_link_libraries(test_modem_exec PRIVATE modem_testlib PkgConfig::CMOCKA)
target_compile_definitions(test_modem_exec PRIVATE MODEM_EXEC_BRIDGE="$<TARGET_FILE:modem_exec_bridge>")
add_dependencies(test_modem_exec modem_exec_bridge)
add_test(NAME modem_exec COMMAND test_modem_exec)
set_tests_properties(modem_exec PROPERTIES LABELS unit TIMEOUT 300)

# Receiving: the simulated network loops back to our own inbound side.
add_executable(test_modem_receive ${MODEM_TEST_DIR}/test_modem_receive.c)
target_link_libraries(test_modem_receive PRIVATE modem_testlib PkgConfig::CMOCKA)
add_test(NAME modem_receive COMMAND test_modem_receive)
set_tests_properties(modem_receive PROPERTIES LABELS unit TIMEOUT 300)

# The AudioSocket listener against in-test remotes, well-behaved and hostile.
add_executable(test_modem_audiosocket ${MODEM_TEST_DIR}/test_modem_audiosocket.c)
target_link_libraries(test_modem_audiosocket PRIVATE modem_testlib PkgConfig::CMOCKA)
add_test(NAME modem_audiosocket COMMAND test_modem_audiosocket)
set_tests_properties(modem_audiosocket PROPERTIES LABELS unit TIMEOUT 600)

# The HDLC guard in front of real spandsp calls, audio and T.38: hostile frames
# slipped in where spandsp 0.0.6 would crash on them.
add_executable(test_modem_hdlc_guard ${MODEM_TEST_DIR}/test_modem_hdlc_guard.c)
target_link_libraries(test_modem_hdlc_guard PRIVATE faxfs_modem faxfs_faxtest PkgConfig::CMOCKA)
add_test(NAME modem_hdlc_guard COMMAND test_modem_hdlc_guard)
set_tests_properties(modem_hdlc_guard PROPERTIES LABELS unit TIMEOUT 60)

# Who may call: allowed peers (CIDR), calls per source, the refusal log
# throttle and the symmetric RTP rule.
add_executable(test_modem_admission ${MODEM_TEST_DIR}/test_modem_admission.c)
target_link_libraries(test_modem_admission PRIVATE faxfs_modem PkgConfig::CMOCKA)
add_test(NAME modem_admission COMMAND test_modem_admission)
set_tests_properties(modem_admission PROPERTIES LABELS unit TIMEOUT 60)
