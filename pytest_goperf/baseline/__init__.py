"""The baseline store (:mod:`.store`: reviewable JSON, atomic writes, a lock for parallel writers)
and the environment fingerprint stored with it (:mod:`.environment`).
"""
