"""Reference trainers: networks the project trains itself (the fmnist-cnn extractor first).

Each trainer is a module runnable with `python -m reference_models.<name>`, seeded from an explicit
seed, CPU-friendly, and writes one file that torch.load(weights_only=True) reads.
"""
