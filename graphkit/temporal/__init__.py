"""Temporal graph learning on edge streams (issue 8): TGN, PRES, SPLASH, NAT, SEMBA."""
