"""Tests of node.engine."""
