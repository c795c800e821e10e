"""Graph pooling and readout layers (issue 6): RegionProposalPool, HistoGraphReadout,
HyperDrop, TokenGraphPool."""
