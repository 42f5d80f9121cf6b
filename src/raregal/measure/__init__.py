"""How well a search works: against labels (:mod:`.evaluate`), on planted
classes (:mod:`.synthetic`, :mod:`.inject`), against a simple baseline
(:mod:`.baseline`) and between runs (:mod:`.compare`)."""
