"""Built-in datasets: Fashion-MNIST (IDX files), scikit-learn's digits, and (later) synthfaces."""
