"""graphkit: graph learning (pooling, link prediction, temporal models, embeddings) on
the shared storage core of :mod:`native`. Importing it is cheap: no torch-geometric.
"""

__version__ = "0.1.0"
