"""Training: recipes and the loop, augmentation, the CK+ fold protocol, the head warm-up, benchmarks, recipe search."""
