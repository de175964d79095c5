"""Tests of node.dev."""
