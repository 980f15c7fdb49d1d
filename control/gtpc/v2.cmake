# GTPv2-C (PGW): sources and tests.
