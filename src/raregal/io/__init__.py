"""Files in and out: catalogues and representation tables in every published
layout (:mod:`.catalogue`, :mod:`.schemas`), images and which file holds which
galaxy (:mod:`.images`), the output policy every writer goes through
(:mod:`.output`), tables for other tools (:mod:`.export`) and the header every
JSON record starts with (:mod:`.records`). Imports only :mod:`raregal.core`."""
