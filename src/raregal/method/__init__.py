"""The search, stage by stage: cuts (:mod:`.select`), duplicates and PCA
(:mod:`.duplicates`, :mod:`.redundancy`), UMAP (:mod:`.reduce`, :mod:`.layout`),
HDBSCAN's leaves (:mod:`.cluster`), which classes are real (:mod:`.credibility`,
:mod:`.matching`, :mod:`.scales`), the per-galaxy rarity and ranking
(:mod:`.rarity`, :mod:`.rank`), the estimator and ``raregal search``
(:mod:`.search`) and the run folder it writes and reads (:mod:`.run`)."""
