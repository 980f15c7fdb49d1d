# GTPv1-C (GGSN): sources and tests.
target_sources(simcore_gtpc PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/gtpv1.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/ggsn.cc)

simcore_add_gtest(simcore_gtpv1_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/gtpv1_test.cc ${CMAKE_CURRENT_SOURCE_DIR}/ggsn_test.cc
  LIBS simcore_gtpc simcore_packet_testing LABELS "control;gtpc")
target_compile_definitions(simcore_gtpv1_test PRIVATE
  SIMCORE_PCAP_DIR="${SIMCORE_PCAP_DIR}")
