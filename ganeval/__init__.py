"""ganeval: GAN evaluation and bias-audit toolkit.

The data path (see DESIGN.md): source -> preprocess (named protocol) -> feature extractor
-> FeatureStats (cached) -> metrics (pure functions) -> Result (value, CI, N, provenance) -> report.
"""

__version__ = "0.1.0"
