"""What a built model is: walk, FLOP handlers, records, aggregation, receptive field, memory, estimate."""
