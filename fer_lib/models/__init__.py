"""Models: the CNNs, the temporal-only and hybrid CNN-RNN models, checkpoints, models started from a trained CNN."""
