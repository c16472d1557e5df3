"""The local hub's Xet storage: the CAS the unmodified ``hf_xet`` client uploads to and downloads from.

Modules, from bytes up: :mod:`~hubkit.hub.xet.hashing` (keyed BLAKE3 hashes),
:mod:`~hubkit.hub.xet.xorb` and :mod:`~hubkit.hub.xet.shard` (the two wire formats),
:mod:`~hubkit.hub.xet.cas` (storage), :mod:`~hubkit.hub.xet.verify` (what an upload must prove),
:mod:`~hubkit.hub.xet.tokens` (Xet access tokens) and :mod:`~hubkit.hub.xet.routes` (HTTP).
See docs/local-hub.md, section "Xet".
"""
