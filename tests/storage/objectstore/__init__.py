"""Conformance suite of the object store, run against every backend."""
