"""The store agent: the far end of :mod:`assay.store.sync` on a host where assay is not
installed.

It manages a store under a root on that host (the layout of :mod:`assay.store`, so an assay
installed there can use the same store) and answers requests framed on its stdin and stdout
(:mod:`.wire`; operations in :mod:`.server`), so it runs over any byte pipe: a local
subprocess, ``ssh HOST python3 -I -c BOOTSTRAP``, an SSH channel. It uses only the standard
library and runs on any Python >= 3.7, shipped by assay as one file (:mod:`.bundle`): run as
``python3 -I agent-HASH.py [--root DIR]``, or sent on stdin ahead of the requests.

What is checked, and against whom
---------------------------------
The client is trusted: it logged in as the account that owns the store. Everything between
the client's memory and the remote disk is not: the network (SSH protects it already), a
fault in the pipe, the disk, a concurrent upload. The store names objects by BLAKE3, which
the standard library lacks, so the client sends with every object the SHA-256 of its bytes
and the agent publishes an object only when the bytes it received hash to that SHA-256 and
have the object's size. So an object published here holds exactly the bytes the client
hashed; that those bytes hash to the object's BLAKE3 name is the client's word (it hashed
them itself from its own verified store). The SHA-256 is kept (``sha256/`` in the store), so
``verify`` here finds later damage (bit rot, a write through a hard link) by re-hashing.
Pulled objects go the other way and are checked by the client with BLAKE3 itself.

Every name a request carries is checked before it becomes a path (object names are 64 hex
digits, version names a restricted alphabet), trees are checked before they are written out
(no entry outside the target, no link followed), and frames and pieces have size limits, so
a request cannot make the agent write outside its store and target, nor hold more than one
piece in memory.
"""
