"""Training and evaluation: the paper's experiments (Tables 7-11) as one resumable pipeline.

``config`` (presets = Table 10), ``loop`` (SGD, milestones, accumulation, AMP, DDP, resume),
``fit_svm`` (the SVM presets), ``metrics`` (P/R/F1/ROC-AUC), ``saved`` (a trained model's
directory), ``predict`` (running a model over clips), ``experiments`` (splits and folds ->
tables), ``evaluate`` (predictions, metrics, ROC plot, confusion grids for any clips).
Importing this package imports nothing heavy; its modules import torch.
"""
