# Unit tests of the queue engine (label "unit").
add_library(faxfs_queue_testutil STATIC ${CMAKE_CURRENT_LIST_DIR}/queue_testutil.c)
target_link_libraries(faxfs_queue_testutil PUBLIC faxfs_document faxfs_queue PkgConfig::CMOCKA PkgConfig::TIFF PkgConfig::PNG PkgConfig::JPEG)

# test_queue_fault needs FAXFS_FAULT_INJECTION=ON; without it its tests
# report themselves skipped.
foreach(name jobfile job sched engine spool document intake receive fault check metrics preview convert drafts
             number_pattern
             edit
             pdf
             route
             receive_route
             dialplan
             broadcast
             batch
             load
             memory
             )
  add_executable(test_queue_${name} ${CMAKE_CURRENT_LIST_DIR}/test_queue_${name}.c)
  target_link_libraries(test_queue_${name} PRIVATE faxfs_queue_testutil)
  add_test(NAME queue_${name} COMMAND test_queue_${name})
  set_tests_properties(queue_${name} PROPERTIES LABELS unit TIMEOUT 120 ENVIRONMENT "TZ=UTC")
endforeach()

# Documents through the real sandbox: bwrap and the faxfs-convert program
# (needs root to switch to the conversion user; exit 77 = skipped).
add_executable(test_queue_sandbox ${CMAKE_CURRENT_LIST_DIR}/test_queue_sandbox.c)
target_link_libraries(test_queue_sandbox PRIVATE faxfs_queue_testutil)
target_compile_definitions(test_queue_sandbox PRIVATE FAXFS_CONVERTER="$<TARGET_FILE:faxfs-convert>")
add_dependencies(test_queue_sandbox faxfs-convert)
add_test(NAME queue_sandbox COMMAND test_queue_sandbox)
set_tests_properties(queue_sandbox PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77 ENVIRONMENT "TZ=UTC")

# Sandboxes kept for the documents of one submitting user (serve mode).
add_executable(test_queue_sandbox_pool ${CMAKE_CURRENT_LIST_DIR}/test_queue_sandbox_pool.c)
target_link_libraries(test_queue_sandbox_pool PRIVATE faxfs_queue_testutil)
target_compile_definitions(test_queue_sandbox_pool PRIVATE FAXFS_CONVERTER="$<TARGET_FILE:faxfs-convert>")
add_dependencies(test_queue_sandbox_pool faxfs-convert)
add_test(NAME queue_sandbox_pool COMMAND test_queue_sandbox_pool)
set_tests_properties(queue_sandbox_pool PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77 ENVIRONMENT "TZ=UTC")

# The engine's tests over a private PostgreSQL server (tests/lib/postgres.sh;
# exit 77 = skipped, only when the PostgreSQL binaries are not installed),
# and the PostgreSQL store's own tests (test_queue_pg.c).
add_executable(test_queue_pg ${CMAKE_CURRENT_LIST_DIR}/test_queue_pg.c)
target_link_libraries(test_queue_pg PRIVATE faxfs_queue_testutil)
foreach(t engine_pg pg)
  string(REPLACE "_pg" "" bin ${t})
  add_test(NAME queue_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../lib/with_postgres.sh
    $<TARGET_FILE:test_queue_${bin}>)
  set_tests_properties(queue_${t} PROPERTIES LABELS "unit;postgresql" TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "TZ=UTC")
endforeach()

# The engine's tests over the file spool as well (the in-memory store is
# queue_engine's, PostgreSQL queue_engine_pg's).
add_test(NAME queue_engine_spool COMMAND test_queue_engine)
set_tests_properties(queue_engine_spool PROPERTIES LABELS unit TIMEOUT 120 ENVIRONMENT "TZ=UTC;FAXFS_TEST_SPOOL=1")

# Benchmark of submission below the filesystem (scripts/bench/submit.sh); not a test.
add_executable(bench_queue_submit ${CMAKE_CURRENT_LIST_DIR}/bench_queue_submit.c)
target_link_libraries(bench_queue_submit PRIVATE faxfs_queue_testutil)

# Dispatch across nodes on one database: claims in one statement,
# per-destination limits held by all nodes together (test_queue_pg_dispatch.c).
add_executable(test_queue_pg_dispatch ${CMAKE_CURRENT_LIST_DIR}/test_queue_pg_dispatch.c)
target_link_libraries(test_queue_pg_dispatch PRIVATE faxfs_queue_testutil)
add_test(NAME queue_pg_dispatch COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../lib/with_postgres.sh
  $<TARGET_FILE:test_queue_pg_dispatch>)
set_tests_properties(queue_pg_dispatch PROPERTIES LABELS "unit;postgresql" TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "TZ=UTC")
