"""Vector indexes on graphkit's storage core.

Every index shares one protocol (:class:`ann.Index`): ``add(X, ids=None)``,
``search(Q, k) -> (D, I)``, ``remove(ids)``, ``save(path)``, and ``ann.load(path)`` reads
any of them back::

    import ann
    idx = ann.FlatIndex(dim=128, metric="l2")
    idx.add(X)
    D, I = idx.search(Q, k=10)
"""

from ann.base import Index, load
from ann.flat import FlatIndex
from ann.hnsw import HNSWIndex
from ann.partitioned import PartitionedIndex
from ann.hybrid import HybridIndex
from ann.tenants import TenantIndex
from native.container import CorruptFileError

__all__ = ["Index", "FlatIndex", "HNSWIndex", "PartitionedIndex", "HybridIndex", "TenantIndex", "load", "CorruptFileError"]
