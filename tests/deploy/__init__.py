"""Tests of what ships beside the daemon: image, compose stack, dashboard, rules, manifests."""
