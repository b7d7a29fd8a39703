# SIP line tests: UDPTL framing, SDP offer/answer, RTP, and the SIP user
# agent against a peer on loopback. Paths are relative to this file so it
# can be included from anywhere.
set(SIP_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
set(SIP_MODEM_DIR ${CMAKE_CURRENT_LIST_DIR}/../../modem)

if(NOT TARGET PkgConfig::LIBRE)
  pkg_check_modules(LIBRE REQUIRED IMPORTED_TARGET GLOBAL libre)
endif()

# The SIP code lives in modem/; until modem/CMakeLists.txt builds it into
# the modem library, the tests build it here.
if(NOT TARGET faxfs_sip)
  add_library(faxfs_sip STATIC
    ${SIP_MODEM_DIR}/udptl.c
    ${SIP_MODEM_DIR}/sip_sdp.c
    ${SIP_MODEM_DIR}/sip_ua.c
  )
  target_link_libraries(faxfs_sip PUBLIC PkgConfig::LIBRE PkgConfig::SPANDSP Threads::Threads)
endif()

add_executable(test_modem_udptl ${SIP_TEST_DIR}/test_modem_udptl.c)
target_link_libraries(test_modem_udptl PRIVATE faxfs_sip PkgConfig::CMOCKA)
add_test(NAME modem_udptl COMMAND test_modem_udptl)
set_tests_properties(modem_udptl PROPERTIES LABELS unit TIMEOUT 60)

add_executable(test_modem_sip_sdp ${SIP_TEST_DIR}/test_modem_sip_sdp.c)
target_link_libraries(test_modem_sip_sdp PRIVATE faxfs_sip PkgConfig::CMOCKA)
add_test(NAME modem_sip_sdp COMMAND test_modem_sip_sdp)
set_tests_properties(modem_sip_sdp PROPERTIES LABELS unit TIMEOUT 60)

add_executable(test_modem_sip_ua ${SIP_TEST_DIR}/test_modem_sip_ua.c)
target_link_libraries(test_modem_sip_ua PRIVATE faxfs_sip PkgConfig::CMOCKA)
add_test(NAME modem_sip_ua COMMAND test_modem_sip_ua)
set_tests_properties(modem_sip_ua PROPERTIES LABELS "unit;sip" TIMEOUT 120)

# Signalling against an independent user agent (Debian baresip-core).
find_program(BARESIP_EXECUTABLE baresip)
add_executable(test_modem_sip_baresip ${SIP_TEST_DIR}/test_modem_sip_baresip.c)
target_link_libraries(test_modem_sip_baresip PRIVATE faxfs_sip PkgConfig::CMOCKA)
if(BARESIP_EXECUTABLE)
  target_compile_definitions(test_modem_sip_baresip PRIVATE BARESIP_PATH="${BARESIP_EXECUTABLE}")
endif()
add_test(NAME modem_sip_baresip COMMAND test_modem_sip_baresip)
set_tests_properties(modem_sip_baresip PROPERTIES LABELS sip TIMEOUT 120)
