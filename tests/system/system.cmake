# System tests: the queue engine on real modems (simulated network), no FUSE.
# One ctest test per case (SPLIT): the cases run in parallel.
faxfs_modem_test(NAME system_sim SPLIT SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_system_sim.c
                 ${CMAKE_CURRENT_LIST_DIR}/system_util.c LIBS faxfs_wiring faxfs_faxtest Threads::Threads
                 LABELS system TIMEOUT 600 DEFINES FAXFS_CONVERTER="$<TARGET_FILE:faxfs-convert>")

# The engine over a SIP line on loopback: busy is retried, the retry faxes.
faxfs_modem_test(NAME system_sip SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_system_sip.c
                 ${CMAKE_CURRENT_LIST_DIR}/system_util.c LIBS faxfs_wiring faxfs_faxtest Threads::Threads
                 LABELS system sip TIMEOUT 600 DEFINES FAXFS_CONVERTER="$<TARGET_FILE:faxfs-convert>")

# Two mounted daemons faxing over SIP (needs FUSE; exit 77 = skipped).
add_test(NAME system_sip_mounted COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_sip_mounted.sh)
set_tests_properties(system_sip_mounted PROPERTIES LABELS "system;sip;mount" TIMEOUT 400 SKIP_RETURN_CODE 77
  ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")
# The same without --sip-local: the sending daemon finds its own address.
add_test(NAME system_sip_mounted_default_local COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_sip_mounted.sh default-local)
set_tests_properties(system_sip_mounted_default_local PROPERTIES LABELS "system;sip;mount" TIMEOUT 400
  SKIP_RETURN_CODE 77 ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")

# Inbound routing by the SIP Request-URI (needs FUSE; exit 77 = skipped).
add_test(NAME system_sip_routing COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_sip_routing.sh)
set_tests_properties(system_sip_routing PROPERTIES LABELS "system;sip;mount" TIMEOUT 400 SKIP_RETURN_CODE 77
  ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")

# Remote callers driven by SIPp (Debian sip-tester) against a mounted
# daemon: allowed peers, a flood, malformed SIP/SDP, SDP naming a third
# address, a silent caller, inbound digest authentication (exit 77 = skipped).
foreach(case forbidden flood malformed media silent auth)
  add_test(NAME system_sip_admission_${case}
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_sip_admission.sh ${case})
  set_tests_properties(system_sip_admission_${case} PROPERTIES LABELS "system;sip;mount" TIMEOUT 300
    SKIP_RETURN_CODE 77 ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>")
endforeach()

# faxfs's mail builder and sendmail runner against a private Postfix
# instance (tests/lib/postfix.sh): delivered to Maildirs, read back by
# Python's email package (root; exit 77 = skipped).
add_executable(mail_send ${CMAKE_CURRENT_LIST_DIR}/mail_send.c)
target_link_libraries(mail_send PRIVATE faxfs_daemon)
add_test(NAME system_mail_postfix COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_mail_postfix.sh)
set_tests_properties(system_mail_postfix PROPERTIES LABELS "system;mail" TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "MAIL_SEND=$<TARGET_FILE:mail_send>")
# SIP lines registering with Kamailio (Debian kamailio, tests/system/kamailio.cfg):
# a fax through the registrar-proxy over T.38 and G.711, a refused
# registration, a registration that ran out (exit 77 = skipped).
foreach(case t38 g711 wrong_password expired)
  add_test(NAME system_sip_registrar_${case}
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_sip_registrar.sh ${case})
  set_tests_properties(system_sip_registrar_${case} PROPERTIES LABELS "system;sip;mount" TIMEOUT 300
    SKIP_RETURN_CODE 77
    ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>;FAX_PAGES=$<TARGET_FILE:fax_pages>")
endforeach()
