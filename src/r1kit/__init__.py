"""r1kit: the DeepSeek-R1 training system (arXiv 2501.12948) as one readable package.

Importing `r1kit` is cheap: heavy libraries (transformers, datasets) load lazily in the
modules that need them.
"""

__version__ = "0.1.0"
