"""OpenEMR 7 test schema and fixtures for the openemr target (see README.md)."""
