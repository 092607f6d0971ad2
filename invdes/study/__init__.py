"""The study: how the inverse methods are compared, and the chain that produces the results.

- :mod:`invdes.study.evaluate`  the evaluation protocol of Table 1 and Figure 3 (REP per target)
- :mod:`invdes.study.pipeline`  the steps behind ``invdes reproduce`` (gan, data, mdn,
  baselines, evaluate) with the artifact cache, reuse and resume

Imports every layer below (up to :mod:`invdes.inverse`); never the product or the book.
"""
