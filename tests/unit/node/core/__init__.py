"""Tests of node.core."""
