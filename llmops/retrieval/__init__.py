"""Retrieval-augmented generation: index documents, retrieve passages, put them in prompts.

A shared package (no runner, CLI or service imports): the index runner writes an index folder
with `manifest`, `embedding` and `engines`; the prompt, tune and eval runners and the gateway
read it through `retriever.Retriever` and `augment.Augmenter`, so what is evaluated is what is
trained and served. Nothing heavy is imported here: torch, sentence-transformers, faiss and
psycopg load inside the functions that need them.
"""
