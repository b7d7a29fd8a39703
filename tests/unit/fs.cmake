# Unit tests of the filesystem view: rendering, parsers, inode numbering,
# the job snapshot cache, metrics text, the page preview cache, the outbox
# bookkeeping (lookups, per-user limits, bounded refusals, draft expiry),
# the table of inodes the kernel may hold (known).
foreach(t inode parse render jobcache metrics preview outbox known)
  add_executable(test_fs_${t} ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_fs_${t}.c)
  target_link_libraries(test_fs_${t} PRIVATE faxfs_fs faxfs_queue PkgConfig::CMOCKA)
  add_test(NAME fs_${t} COMMAND test_fs_${t})
  set_tests_properties(fs_${t} PROPERTIES LABELS unit TIMEOUT 60)
endforeach()
