"""Tests of node.server."""
