"""The book layer: tables, figures and prose helpers of the chapters (the notebooks' code).

- :mod:`invdes.book.tables`         :class:`~invdes.book.tables.Table` and the formatting rules
- :mod:`invdes.book.table1`         Table 1, ours beside the paper's (chapters 6 and 7)
- :mod:`invdes.book.plots`          small matplotlib helpers shared by the notebooks
- :mod:`invdes.book.plots_optics`   figures of chapter 2 (the optical physics)
- :mod:`invdes.book.ch03_gan`       chapter 3, the GAN: training curves, samples, ablation
- :mod:`invdes.book.ch04_datasets`  chapter 4, the data sets and the null baselines
- :mod:`invdes.book.ch05_gan_mdn`   chapter 5, GAN-MDN: network, training, mixtures
- :mod:`invdes.book.ch06_baselines` chapter 6, Bayesian optimization and PCA-MDN
- :mod:`invdes.book.ch07_results`   chapter 7, results: comparisons, Figures 2 and 3

The top layer (with :mod:`invdes.design` and :mod:`invdes.cli`): it may import everything
below, and nothing below imports it.
"""
