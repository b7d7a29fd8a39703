# Crash tests: kill -9 at random moments and at every fault-injection kill
# point. Needs a build with -DFAXFS_FAULT_INJECTION=ON (scripts/test.sh).
if(FAXFS_FAULT_INJECTION)
  foreach(t kill9 disk_errors unsaved)
    add_test(NAME crash_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
    set_tests_properties(crash_${t} PROPERTIES LABELS crash TIMEOUT 1200
      ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")
  endforeach()
endif()
