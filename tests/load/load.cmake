# Load tests: many readers against the mount while jobs are sent, submitted
# and canceled (label "load", also run in the ASan and TSan builds), and a
# whole session under valgrind memcheck (label "valgrind", normal builds).
if(CMAKE_C_FLAGS MATCHES "sanitize=thread")
  set(FAXFS_LOAD_TSAN ON)
endif()
# Sanitizers slow the daemon several times over: a shorter load keeps CI
# within bounds and still runs thousands of concurrent requests.
if(FAXFS_SANITIZE OR FAXFS_LOAD_TSAN)
  set(FAXFS_LOAD_SECONDS 20)
else()
  set(FAXFS_LOAD_SECONDS 60)
endif()
# TSan reports go to the daemon's stderr (its log), which the test checks.
set(FAXFS_LOAD_TSAN_OPTIONS "suppressions=${CMAKE_CURRENT_LIST_DIR}/tsan.supp halt_on_error=0")
add_test(NAME load COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_load.sh)
# Alone: 100 reader loops take both cores, which would starve other tests.
set_tests_properties(load PROPERTIES LABELS load TIMEOUT 400 RUN_SERIAL TRUE SKIP_RETURN_CODE 77
  ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>;LOAD_SECONDS=${FAXFS_LOAD_SECONDS};TSAN_OPTIONS=${FAXFS_LOAD_TSAN_OPTIONS}")
# valgrind cannot run sanitized programs.
if(NOT FAXFS_SANITIZE AND NOT FAXFS_LOAD_TSAN)
  add_test(NAME valgrind COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_valgrind.sh)
  set_tests_properties(valgrind PROPERTIES LABELS valgrind TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>")
endif()
