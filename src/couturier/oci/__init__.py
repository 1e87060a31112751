"""OCI output: deterministic layers (:mod:`.layer`), JSON documents (:mod:`.documents`) and image
layout directories (:mod:`.layout`)."""
