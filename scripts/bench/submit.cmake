# Submission benchmark writer: built with the project, never run by ctest.
# Run it through scripts/bench/submit.sh.
add_executable(bench_writer ${CMAKE_CURRENT_LIST_DIR}/bench_writer.c)
target_link_libraries(bench_writer PRIVATE Threads::Threads)
