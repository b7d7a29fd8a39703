# Unit tests of the daemon's own parts (label "unit").
foreach(name notify config)
  add_executable(test_daemon_${name} ${CMAKE_CURRENT_LIST_DIR}/test_daemon_${name}.c)
  target_link_libraries(test_daemon_${name} PRIVATE faxfs_daemon faxfs_queue_testutil)
  add_test(NAME daemon_${name} COMMAND test_daemon_${name})
  set_tests_properties(daemon_${name} PROPERTIES LABELS unit TIMEOUT 60 ENVIRONMENT "TZ=UTC")
endforeach()

# The mail builder (read back with GMime's parser) and the sendmail runner.
add_executable(test_daemon_mail ${CMAKE_CURRENT_LIST_DIR}/test_daemon_mail.c)
target_link_libraries(test_daemon_mail PRIVATE faxfs_daemon faxfs_queue_testutil PkgConfig::GMIME)
add_test(NAME daemon_mail COMMAND test_daemon_mail)
set_tests_properties(daemon_mail PROPERTIES LABELS unit TIMEOUT 60 ENVIRONMENT "TZ=UTC")
