"""Test doubles: scripted servers that stand in for engines and upstreams in tests."""
