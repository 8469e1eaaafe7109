"""Thin adapters onto other tools, one module per tool, each an optional extra imported lazily.

    arrow       Arrow tables / Parquet files of codes (vectro[parquet]; readable by DuckDB, Polars)
    faiss       FAISS indexes from vectro codes and back (vectro[ann])
    langchain   a LangChain VectorStore over a compressed Index (vectro[langchain])
    llamaindex  a LlamaIndex vector store (vectro[llamaindex])
    haystack    a Haystack DocumentStore and retriever component (vectro[haystack])
    dspy        a DSPy retriever module (vectro[dspy])
    hf          Hugging Face Datasets columns in and out (vectro[hf])

Importing this package imports none of them.
"""
