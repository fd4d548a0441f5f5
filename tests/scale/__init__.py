"""Scale-out tests: real replicas, action server, Redis and PostgreSQL on loopback (see conftest.py)."""
