"""Scaffolding shared by the tests, `tests/scale` and `bench`: databases, fakes, servers, signers.

Test modules import from here, never from each other.
"""
