"""The cloud's registries: device types (their metadata) and the applications registered for
them. Stored through SQLAlchemy in the cloud's database (:mod:`.tables`, :mod:`.store`),
mirrored into the stream backbone's registry bucket for the enrichers (:mod:`.mirror`)."""
