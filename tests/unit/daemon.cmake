# Unit tests of the daemon's own parts (label "unit").
foreach(name notify config options)
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

# faxfs-mail's parts: numbers, the sender map, exit codes (also of the
# program), MIME of the builder's messages and of .eml fixtures.
add_executable(test_daemon_mail_gateway ${CMAKE_CURRENT_LIST_DIR}/test_daemon_mail_gateway.c)
target_link_libraries(test_daemon_mail_gateway PRIVATE faxfs_daemon faxfs_queue_testutil)
target_compile_definitions(test_daemon_mail_gateway PRIVATE
  FIXTURES="${CMAKE_CURRENT_LIST_DIR}/mail_gateway" FAXFS_MAIL="$<TARGET_FILE:faxfs-mail>")
add_dependencies(test_daemon_mail_gateway faxfs-mail)
add_test(NAME daemon_mail_gateway COMMAND test_daemon_mail_gateway)
set_tests_properties(daemon_mail_gateway PROPERTIES LABELS "unit;mail" TIMEOUT 60)
