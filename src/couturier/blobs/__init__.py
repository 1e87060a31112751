"""Content-addressed blob storage: the :class:`BlobStore` port and its local implementation.

- :mod:`~couturier.blobs.store`: :class:`BlobStore` (the Protocol) and :class:`LocalBlobStore`
  (``<data_dir>/blobs/sha256/<hex>``, written atomically, verified on write and read).
"""

from couturier.blobs.store import (
    SCRATCH,
    BlobStore,
    LocalBlobStore,
    blob_store_dir,
    check_digest,
)

__all__ = ["SCRATCH", "BlobStore", "LocalBlobStore", "blob_store_dir", "check_digest"]
