"""Accuracy-drift validation and release gates."""
