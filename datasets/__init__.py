"""Bundled real datasets (imported as ``graphkit.datasets``)."""
