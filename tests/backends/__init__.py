"""Tests of the answer backends, the registry and follow-up questions."""
