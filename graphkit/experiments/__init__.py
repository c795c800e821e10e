"""Experiment runners (``python -m graphkit.experiments.<name>``)."""
