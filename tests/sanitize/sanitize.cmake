# Sanitizer builds only: a program with one deliberate error of each kind
# (heap and stack overflow, use after free, leak, signed overflow, array
# bounds) must be stopped by ASan, LSan or UBSan with its report. It is
# compiled with the product's flags, so a change to the sanitizer build's
# flags or optimisation that made the sanitizers miss these fails here.
if(FAXFS_SANITIZE)
  add_executable(faxfs_sanitizer_canary ${CMAKE_CURRENT_LIST_DIR}/canary.c)
  add_test(NAME sanitizer_canary COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/canary.sh)
  set_tests_properties(sanitizer_canary PROPERTIES LABELS unit TIMEOUT 60
    ENVIRONMENT "CANARY=$<TARGET_FILE:faxfs_sanitizer_canary>")
endif()
