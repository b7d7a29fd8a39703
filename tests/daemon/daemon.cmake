# Mounted tests of the daemon's administration (label "mount").
foreach(t admin unit start)
  add_test(NAME daemon_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
  set_tests_properties(daemon_${t} PROPERTIES LABELS mount TIMEOUT 120
    ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")
endforeach()

# The README's demo command, scripts/run.sh, run as a user would (it sets
# up and builds build/ first, hence the long time limit).
add_test(NAME daemon_demo COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_demo.sh)
set_tests_properties(daemon_demo PROPERTIES LABELS mount TIMEOUT 900 SKIP_RETURN_CODE 77
  ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")
