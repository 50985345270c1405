"""Experiment-tracker adapters implementing the ``MetricsLogger`` port.

Each SDK (wandb, mlflow) is imported inside its adapter's constructor, so
importing this package loads neither.
"""
