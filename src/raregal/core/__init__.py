"""What every layer uses and nothing of raregal's own: errors and the one-line
contract (:mod:`.errors`), declarative parameter checks (:mod:`.params`), the
defaults with their sources (:mod:`.defaults`), the safe expression reader
(:mod:`.expression`), stage logs and progress (:mod:`.monitor`), compute
backends (:mod:`.backends`) and the version (:mod:`.version`)."""
