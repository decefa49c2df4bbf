"""Model fixtures: the tiny random-weight pipeline, built once per test session."""
