# GTPv1-C (GGSN): sources and tests.
