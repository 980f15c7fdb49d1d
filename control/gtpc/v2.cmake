# GTPv2-C (PGW): sources and tests.
target_sources(simcore_gtpc PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/gtpv2.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/pgw.cc)

simcore_add_gtest(simcore_gtpv2_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/wire_test.cc ${CMAKE_CURRENT_SOURCE_DIR}/gtpv2_test.cc
          ${CMAKE_CURRENT_SOURCE_DIR}/pgw_test.cc
  LIBS simcore_gtpc simcore_packet_testing LABELS "control;gtpc")
target_compile_definitions(simcore_gtpv2_test PRIVATE
  SIMCORE_PCAP_DIR="${SIMCORE_PCAP_DIR}")
