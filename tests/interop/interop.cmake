# Interop tests against efax, an independent Class 1 fax program: a bridge
# emulates a Class 1 modem (spandsp T.31) on a pty for efax and carries the
# audio to faxfs in real time. About a minute per test; label "interop".
# See docs/interop.md.
add_executable(efax_bridge ${CMAKE_CURRENT_SOURCE_DIR}/interop/efax_bridge.c)
target_link_libraries(efax_bridge PRIVATE PkgConfig::SPANDSP PkgConfig::TIFF)
add_executable(fax_pages ${CMAKE_CURRENT_SOURCE_DIR}/interop/fax_pages.c)
target_link_libraries(fax_pages PRIVATE PkgConfig::TIFF)
foreach(t efax_receives efax_sends)
  add_test(NAME interop_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_${t}.sh)
  set_tests_properties(interop_${t} PROPERTIES LABELS interop TIMEOUT 300
    SKIP_RETURN_CODE 77
    ENVIRONMENT "FAXFS=$<TARGET_FILE:faxfs>;MKFAX=$<TARGET_FILE:mkfax>;EFAX_BRIDGE=$<TARGET_FILE:efax_bridge>;FAX_PAGES=$<TARGET_FILE:fax_pages>")
endforeach()
