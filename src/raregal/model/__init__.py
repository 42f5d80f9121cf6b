"""Images to representations: the Zoobot encoders by name (:mod:`.models`),
``raregal embed`` (:mod:`.embed`) and ``raregal train`` (:mod:`.train`)."""
