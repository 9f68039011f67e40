"""The network as data and as Keras layers: spec tables, naming, builder, model sources."""
