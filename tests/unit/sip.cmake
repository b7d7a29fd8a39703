# SIP line tests: UDPTL framing, SDP offer/answer, the SIP user agent
# against a peer on loopback, and two modem pools faxing over SIP.
# Paths are relative to this file so it can be included from anywhere.
set(SIP_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

faxfs_modem_test(NAME modem_udptl SOURCES ${SIP_TEST_DIR}/test_modem_udptl.c LIBS faxfs_modem
                 LABELS unit TIMEOUT 60)
faxfs_modem_test(NAME modem_sip_sdp SOURCES ${SIP_TEST_DIR}/test_modem_sip_sdp.c LIBS faxfs_modem
                 LABELS unit TIMEOUT 60)
faxfs_modem_test(NAME modem_sip_ua SOURCES ${SIP_TEST_DIR}/test_modem_sip_ua.c LIBS faxfs_modem
                 LABELS unit sip TIMEOUT 120)
# Registration against a scripted registrar; bad registration settings.
faxfs_modem_test(NAME modem_sip_reg SOURCES ${SIP_TEST_DIR}/test_modem_sip_reg.c LIBS faxfs_modem Threads::Threads
                 LABELS unit sip TIMEOUT 120)

# Signalling against an independent user agent (Debian baresip-core).
find_program(BARESIP_EXECUTABLE baresip)
set(BARESIP_DEFINES "")
if(BARESIP_EXECUTABLE)
  set(BARESIP_DEFINES BARESIP_PATH="${BARESIP_EXECUTABLE}")
endif()
faxfs_modem_test(NAME modem_sip_baresip SOURCES ${SIP_TEST_DIR}/test_modem_sip_baresip.c LIBS faxfs_modem
                 LABELS sip TIMEOUT 120 DEFINES ${BARESIP_DEFINES})

# Two modem pools faxing to each other over SIP on loopback, in real time.
faxfs_modem_test(NAME modem_sip_fax SPLIT SOURCES ${SIP_TEST_DIR}/test_modem_sip_fax.c LIBS modem_testlib
                 LABELS unit sip TIMEOUT 600)

# An answering pool asks for T.38 itself; a libre caller in the test
# never asks, asks at the same moment (glare), or refuses. Real time.
faxfs_modem_test(NAME modem_sip_t38_switch SPLIT SOURCES ${SIP_TEST_DIR}/test_modem_sip_t38_switch.c
                 LIBS modem_testlib LABELS unit sip TIMEOUT 600)

# Digest authentication against a challenging libre peer (401 and 407),
# and what a wrong or missing password gives.
faxfs_modem_test(NAME modem_sip_auth SOURCES ${SIP_TEST_DIR}/test_modem_sip_auth.c LIBS modem_testlib
                 LABELS unit sip TIMEOUT 120)
