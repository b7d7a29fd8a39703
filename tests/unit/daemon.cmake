# Unit tests of the daemon's own parts (label "unit").
add_executable(test_daemon_notify ${CMAKE_CURRENT_LIST_DIR}/test_daemon_notify.c)
target_link_libraries(test_daemon_notify PRIVATE faxfs_notify faxfs_queue_testutil)
add_test(NAME daemon_notify COMMAND test_daemon_notify)
set_tests_properties(daemon_notify PROPERTIES LABELS unit TIMEOUT 60 ENVIRONMENT "TZ=UTC")
