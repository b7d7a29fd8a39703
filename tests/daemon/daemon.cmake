# Mounted tests of the daemon's administration (label "mount").
foreach(t admin)
  add_test(NAME daemon_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
  set_tests_properties(daemon_${t} PROPERTIES LABELS mount TIMEOUT 120
    ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")
endforeach()
