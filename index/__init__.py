"""Indexing for daleel: sentence segmentation, lexical and dense retrieval."""
