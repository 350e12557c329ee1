"""The index stage: a KnowledgeIndex's documents chunked, embedded and indexed (`run.py`).

Loading and chunking (`llmops.retrieval.documents`, `.chunking`), the embedder, the index files
and the engines (`llmops.retrieval`) are shared code: the retriever that the prompt, tune and
eval runners and the gateway open reads what this stage writes with the same modules.
"""
