# Unit tests of the daemon's own parts (label "unit").
foreach(name notify config)
  add_executable(test_daemon_${name} ${CMAKE_CURRENT_LIST_DIR}/test_daemon_${name}.c)
  target_link_libraries(test_daemon_${name} PRIVATE faxfs_daemon faxfs_queue_testutil)
  add_test(NAME daemon_${name} COMMAND test_daemon_${name})
  set_tests_properties(daemon_${name} PROPERTIES LABELS unit TIMEOUT 60 ENVIRONMENT "TZ=UTC")
endforeach()
# The configuration test also reads dial rules through the real option table.
target_sources(test_daemon_config PRIVATE ${PROJECT_SOURCE_DIR}/daemon/options.c)
target_link_libraries(test_daemon_config PRIVATE faxfs_modem)
