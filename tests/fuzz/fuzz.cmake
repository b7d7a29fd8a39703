# libFuzzer targets for every parser of outside input (label "fuzz").
# Built only with clang and -DFAXFS_FUZZ=ON; each ctest runs one target for
# FAXFS_FUZZ_SECONDS over its seed corpus in tests/fuzz/corpus/<name>/.
# New inputs the fuzzer finds go to the build tree, never the source tree;
# crashes are saved as <build>/tests/fuzz/<name>/artifacts/crash-*.
# scripts/fuzz.sh runs the same targets for longer.
option(FAXFS_FUZZ "Build libFuzzer targets (needs clang)" OFF)
set(FAXFS_FUZZ_SECONDS 10 CACHE STRING "Seconds each fuzz target runs under ctest")

if(FAXFS_FUZZ AND NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(WARNING "FAXFS_FUZZ needs clang: configure with -DCMAKE_C_COMPILER=clang. Fuzz targets are not built.")
endif()

if(FAXFS_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  set(FAXFS_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer)
  set(FAXFS_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
  # Every fuzz target (scripts/test.sh builds only these in its fuzz build).
  add_custom_target(faxfs_fuzz)

  # The parsers under test are compiled again with coverage instrumentation,
  # apart from the product libraries, so normal builds stay untouched.
  add_library(faxfs_fuzz_queue STATIC
    ${PROJECT_SOURCE_DIR}/queue/job.c
    ${PROJECT_SOURCE_DIR}/queue/jobfile.c
    ${PROJECT_SOURCE_DIR}/queue/document.c
    ${PROJECT_SOURCE_DIR}/queue/document_convert.c
    ${PROJECT_SOURCE_DIR}/queue/image.c
    ${PROJECT_SOURCE_DIR}/queue/raster.c
    ${PROJECT_SOURCE_DIR}/queue/render.c)
  target_compile_options(faxfs_fuzz_queue PRIVATE ${FAXFS_FUZZ_FLAGS})
  target_link_libraries(faxfs_fuzz_queue PUBLIC PkgConfig::TIFF PkgConfig::PNG PkgConfig::JPEG m)

  # faxfs_fuzz_target(NAME name SOURCES src... [LIBS lib...] [SEEDS_FROM target])
  # adds fuzz_<name> from tests/fuzz/fuzz_<name>.c plus the extra sources
  # (instrumented), and its ctest. SEEDS_FROM names a program that writes
  # extra seeds into the directory given as its argument at build time.
  function(faxfs_fuzz_target)
    cmake_parse_arguments(F "" "NAME;SEEDS_FROM" "SOURCES;LIBS" ${ARGN})
    set(work ${CMAKE_BINARY_DIR}/tests/fuzz/${F_NAME})
    file(MAKE_DIRECTORY ${work}/corpus ${work}/seeds ${work}/artifacts)
    add_executable(fuzz_${F_NAME} ${FAXFS_FUZZ_DIR}/fuzz_${F_NAME}.c ${F_SOURCES})
    target_compile_options(fuzz_${F_NAME} PRIVATE ${FAXFS_FUZZ_FLAGS})
    target_link_options(fuzz_${F_NAME} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_${F_NAME} PRIVATE ${F_LIBS})
    add_dependencies(faxfs_fuzz fuzz_${F_NAME})
    if(F_SEEDS_FROM)
      add_custom_command(TARGET fuzz_${F_NAME} POST_BUILD COMMAND ${F_SEEDS_FROM} ${work}/seeds
                         COMMENT "Generating seeds for fuzz_${F_NAME}")
      add_dependencies(fuzz_${F_NAME} ${F_SEEDS_FROM})
    endif()
    file(MAKE_DIRECTORY ${FAXFS_FUZZ_DIR}/corpus/${F_NAME})
    add_test(NAME fuzz_${F_NAME}
             COMMAND fuzz_${F_NAME} -max_total_time=${FAXFS_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048
                     -print_final_stats=1 -artifact_prefix=${work}/artifacts/
                     ${work}/corpus ${FAXFS_FUZZ_DIR}/corpus/${F_NAME} ${work}/seeds)
    math(EXPR limit "${FAXFS_FUZZ_SECONDS} * 3 + 60")
    set_tests_properties(fuzz_${F_NAME} PROPERTIES LABELS fuzz TIMEOUT ${limit})
  endfunction()

  # Tiny TIFFs, good and bad, generated instead of committed.
  add_executable(faxfs_make_tiff_seeds ${FAXFS_FUZZ_DIR}/make_tiff_seeds.c)
  target_link_libraries(faxfs_make_tiff_seeds PRIVATE PkgConfig::TIFF)

  faxfs_fuzz_target(NAME jobfile LIBS faxfs_fuzz_queue)
  faxfs_fuzz_target(NAME document LIBS faxfs_fuzz_queue SEEDS_FROM faxfs_make_tiff_seeds)
  faxfs_fuzz_target(NAME image LIBS faxfs_fuzz_queue)
  faxfs_fuzz_target(NAME accept_page LIBS faxfs_fuzz_queue SEEDS_FROM faxfs_make_tiff_seeds)
  # The request framing of the converter's serve mode (queue/sandbox.h).
  faxfs_fuzz_target(NAME sandbox_request)
  # fax.pdf from a page file (queue/pdf.c).
  faxfs_fuzz_target(NAME pdf SOURCES ${PROJECT_SOURCE_DIR}/queue/pdf.c LIBS PkgConfig::TIFF m
                    SEEDS_FROM faxfs_make_tiff_seeds)
  faxfs_fuzz_target(NAME number LIBS faxfs_fuzz_queue
    SOURCES ${PROJECT_SOURCE_DIR}/queue/dialplan.c ${PROJECT_SOURCE_DIR}/queue/number_pattern.c)
  faxfs_fuzz_target(NAME time_priority LIBS faxfs_fuzz_queue)
  # A broadcast draft's recipients file (queue/recipients.c).
  faxfs_fuzz_target(NAME recipients SOURCES ${PROJECT_SOURCE_DIR}/queue/recipients.c LIBS faxfs_fuzz_queue)
  # report.pdf with hostile job fields, its structure read back (queue/pdf.c).
  faxfs_fuzz_target(NAME report SOURCES ${PROJECT_SOURCE_DIR}/queue/pdf.c LIBS PkgConfig::TIFF m)

  # Parsers of other modules whose targets live here too.
  faxfs_fuzz_target(NAME udptl SOURCES ${PROJECT_SOURCE_DIR}/modem/udptl.c)
  faxfs_fuzz_target(NAME sip_sdp SOURCES ${PROJECT_SOURCE_DIR}/modem/sip_sdp.c)
  faxfs_fuzz_target(NAME audiosocket SOURCES ${PROJECT_SOURCE_DIR}/modem/audiosocket.c)
  faxfs_fuzz_target(NAME ctl SOURCES ${PROJECT_SOURCE_DIR}/fs/parse.c LIBS faxfs_fuzz_queue)
  # The mail builder with hostile text in every outside field (GMime
  # itself is not instrumented; the parse back checks the result).
  faxfs_fuzz_target(NAME mail SOURCES ${PROJECT_SOURCE_DIR}/daemon/mail_message.c LIBS PkgConfig::GMIME)
  # What a remote fax machine sends to a real spandsp T.30 endpoint, over
  # audio and T.38, through the HDLC guard.
  faxfs_fuzz_target(NAME t30 SOURCES ${PROJECT_SOURCE_DIR}/modem/hdlc_guard.c ${PROJECT_SOURCE_DIR}/tests/lib/faxtest.c
                    LIBS PkgConfig::SPANDSP PkgConfig::TIFF)
  # A mail to faxfs-mail: GMime and what the gateway makes of the parts.
  faxfs_fuzz_target(NAME mail_gateway SOURCES ${PROJECT_SOURCE_DIR}/daemon/mail_gateway.c
                    ${PROJECT_SOURCE_DIR}/daemon/mail_message.c LIBS PkgConfig::GMIME)
endif()
