"""Shared test cases (models and inputs) reused by frontend and backend tests."""
