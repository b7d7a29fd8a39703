# SIP line tests: UDPTL framing, SDP offer/answer, the SIP user agent
# against a peer on loopback, and two modem pools faxing over SIP.
# Paths are relative to this file so it can be included from anywhere.
set(SIP_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

add_executable(test_modem_udptl ${SIP_TEST_DIR}/test_modem_udptl.c)
target_link_libraries(test_modem_udptl PRIVATE faxfs_modem PkgConfig::CMOCKA)
add_test(NAME modem_udptl COMMAND test_modem_udptl)
set_tests_properties(modem_udptl PROPERTIES LABELS unit TIMEOUT 60)

add_executable(test_modem_sip_sdp ${SIP_TEST_DIR}/test_modem_sip_sdp.c)
target_link_libraries(test_modem_sip_sdp PRIVATE faxfs_modem PkgConfig::CMOCKA)
add_test(NAME modem_sip_sdp COMMAND test_modem_sip_sdp)
set_tests_properties(modem_sip_sdp PROPERTIES LABELS unit TIMEOUT 60)

add_executable(test_modem_sip_ua ${SIP_TEST_DIR}/test_modem_sip_ua.c)
target_link_libraries(test_modem_sip_ua PRIVATE faxfs_modem PkgConfig::CMOCKA)
add_test(NAME modem_sip_ua COMMAND test_modem_sip_ua)
set_tests_properties(modem_sip_ua PROPERTIES LABELS "unit;sip" TIMEOUT 120)

# Signalling against an independent user agent (Debian baresip-core).
find_program(BARESIP_EXECUTABLE baresip)
add_executable(test_modem_sip_baresip ${SIP_TEST_DIR}/test_modem_sip_baresip.c)
target_link_libraries(test_modem_sip_baresip PRIVATE faxfs_modem PkgConfig::CMOCKA)
if(BARESIP_EXECUTABLE)
  target_compile_definitions(test_modem_sip_baresip PRIVATE BARESIP_PATH="${BARESIP_EXECUTABLE}")
endif()
add_test(NAME modem_sip_baresip COMMAND test_modem_sip_baresip)
set_tests_properties(modem_sip_baresip PROPERTIES LABELS sip TIMEOUT 120)

# Two modem pools faxing to each other over SIP on loopback, in real time.
add_executable(test_modem_sip_fax ${SIP_TEST_DIR}/test_modem_sip_fax.c)
target_link_libraries(test_modem_sip_fax PRIVATE modem_testlib PkgConfig::CMOCKA)
add_test(NAME modem_sip_fax COMMAND test_modem_sip_fax)
set_tests_properties(modem_sip_fax PROPERTIES LABELS "unit;sip" TIMEOUT 600)

# An answering pool asks for T.38 itself; a libre caller in the test
# never asks, asks at the same moment (glare), or refuses. Real time.
add_executable(test_modem_sip_t38_switch ${SIP_TEST_DIR}/test_modem_sip_t38_switch.c)
target_link_libraries(test_modem_sip_t38_switch PRIVATE modem_testlib PkgConfig::CMOCKA)
add_test(NAME modem_sip_t38_switch COMMAND test_modem_sip_t38_switch)
set_tests_properties(modem_sip_t38_switch PROPERTIES LABELS "unit;sip" TIMEOUT 600)

# Digest authentication against a challenging libre peer (401 and 407),
# and what a wrong or missing password gives.
add_executable(test_modem_sip_auth ${SIP_TEST_DIR}/test_modem_sip_auth.c)
target_link_libraries(test_modem_sip_auth PRIVATE modem_testlib PkgConfig::CMOCKA)
add_test(NAME modem_sip_auth COMMAND test_modem_sip_auth)
set_tests_properties(modem_sip_auth PROPERTIES LABELS "unit;sip" TIMEOUT 120)
