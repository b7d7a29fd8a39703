# Unit tests of the queue engine (label "unit").
add_library(faxfs_queue_testutil STATIC ${CMAKE_CURRENT_LIST_DIR}/queue_testutil.c)
target_link_libraries(faxfs_queue_testutil PUBLIC faxfs_queue PkgConfig::CMOCKA PkgConfig::TIFF PkgConfig::PNG PkgConfig::JPEG)

# test_queue_fault needs FAXFS_FAULT_INJECTION=ON; without it its tests
# report themselves skipped.
foreach(name jobfile job sched engine spool document intake receive fault check metrics preview convert drafts)
  add_executable(test_queue_${name} ${CMAKE_CURRENT_LIST_DIR}/test_queue_${name}.c)
  target_link_libraries(test_queue_${name} PRIVATE faxfs_queue_testutil)
  add_test(NAME queue_${name} COMMAND test_queue_${name})
  set_tests_properties(queue_${name} PROPERTIES LABELS unit TIMEOUT 120 ENVIRONMENT "TZ=UTC")
endforeach()
