# Crash tests: kill -9 at random moments and at every fault-injection kill
# point. Needs a build with -DFAXFS_FAULT_INJECTION=ON (scripts/test.sh).
if(FAXFS_FAULT_INJECTION)
  foreach(t disk_errors unsaved)
    add_test(NAME crash_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
    set_tests_properties(crash_${t} PROPERTIES LABELS crash TIMEOUT 1200
      ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")
  endforeach()
  # The kill -9 rounds as two tests of half the rounds each, which run side
  # by side (the longest test of the suite was the end of each suite's
  # critical path); `ctest -R crash_kill9` runs both.
  foreach(part 1 2)
    add_test(NAME crash_kill9.part${part} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_kill9.sh)
    set_tests_properties(crash_kill9.part${part} PROPERTIES LABELS crash TIMEOUT 1200
      ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>;KILL9_PART=${part}/2")
  endforeach()
endif()
