"""Autograder for the 'Deep Learning Basics with PyTorch, Part 2: DNN' labs."""
__version__ = "0.1.0"
