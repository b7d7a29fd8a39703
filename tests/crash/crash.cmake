# Crash tests: kill -9 at random moments and at every fault-injection kill
# point. Needs a build with -DFAXFS_FAULT_INJECTION=ON (scripts/test.sh).
if(FAXFS_FAULT_INJECTION)
  add_test(NAME crash_kill9 COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_kill9.sh)
  set_tests_properties(crash_kill9 PROPERTIES LABELS crash TIMEOUT 1200
    ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")
endif()
