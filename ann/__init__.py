"""Vector indexes on graphkit's storage core: exact search, HNSW, partitioned indexes.

Every index shares one protocol (:class:`ann.Index`): ``add(X, ids=None)``,
``search(Q, k) -> (D, I)``, ``remove(ids)``, ``save(path)``, and ``ann.load(path)``.
"""
