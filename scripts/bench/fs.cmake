# Filesystem benchmark baseline: built with the project, never run by ctest.
# Run it through scripts/bench/fs.sh.
add_executable(bench_memfs ${CMAKE_CURRENT_LIST_DIR}/bench_memfs.c)
target_link_libraries(bench_memfs PRIVATE PkgConfig::FUSE3 Threads::Threads)
