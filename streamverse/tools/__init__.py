"""Maintenance tools for the course (run by the Makefile, not imported by the app)."""
