# Mounted integration tests: the real daemon on a temporary spool and mount
# point, driven with ls, cat, cp, rm and friends (tests/mount/*.sh). A test
# that cannot run here (not root, no loopback line) exits 77: skipped.
add_executable(mkfax ${CMAKE_CURRENT_SOURCE_DIR}/mount/mkfax.c)
target_link_libraries(mkfax PRIVATE faxfs_faxtest)
foreach(t submit order refusals cancel ctl readers follow restart users receive metrics previews documents
    sandbox outbox_private outbox_limits
    wait
    edit
    mail
    pdf
    lines
    routing
    routing_mail
    dialplan
    report
    receipts
    broadcast
    postgresql
    postgresql_copy
    postgresql_outage
    postgresql_nodes
    postgresql_nodes3
    batch
    restart_load
    )
  add_test(NAME mount_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mount/test_${t}.sh)
  set_tests_properties(mount_${t} PROPERTIES LABELS mount TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")
endforeach()
# A private PostgreSQL server starts first (initdb, a few seconds): more room
# under sanitizers and load.
set_tests_properties(mount_postgresql mount_postgresql_copy mount_postgresql_outage mount_postgresql_nodes mount_postgresql_nodes3 PROPERTIES TIMEOUT 300 LABELS "mount;postgresql")
# The README's tour, run as a test (tests/tour/tour.sh, text in docs/tour.md).
add_test(NAME tour COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tour/tour.sh)
set_tests_properties(tour PROPERTIES LABELS mount TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")
# Mail to fax: a private Postfix's pipe transport runs faxfs-mail through
# sudo; the mailed job is the mapped user's (root, sudo; exit 77 = skipped).
add_test(NAME mount_mail_gateway COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mount/test_mail_gateway.sh)
set_tests_properties(mount_mail_gateway PROPERTIES LABELS "mount;mail" TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>;FAXFS_MAIL=$<TARGET_FILE:faxfs-mail>")
