# System tests: the queue engine on real modems (simulated network), no FUSE.
add_executable(test_system_sim ${CMAKE_CURRENT_LIST_DIR}/test_system_sim.c ${CMAKE_CURRENT_LIST_DIR}/system_util.c)
target_link_libraries(test_system_sim PRIVATE faxfs_wiring PkgConfig::CMOCKA PkgConfig::TIFF Threads::Threads)
add_test(NAME system_sim COMMAND test_system_sim)
set_tests_properties(system_sim PROPERTIES LABELS system TIMEOUT 600)
