"""Checkpoint stores (implementations of the ``CheckpointStore`` port)."""
