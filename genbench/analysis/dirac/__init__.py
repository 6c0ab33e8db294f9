"""The Dirac-GAN (Mescheder et al. 2018): its dataset (data.py), metric (metric.py), study (study.py) and
plots (plots.py). Its two one-parameter networks are a network family like any other: genbench/nets/dirac.py."""
