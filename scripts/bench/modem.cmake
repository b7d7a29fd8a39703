# Modem benchmark: built with the project, never run by ctest.
# Run it through scripts/bench/modem.sh.
add_executable(bench_modem ${CMAKE_CURRENT_LIST_DIR}/bench_modem.c)
target_link_libraries(bench_modem PRIVATE faxfs_modem PkgConfig::SPANDSP PkgConfig::TIFF Threads::Threads m)
