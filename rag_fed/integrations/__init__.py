"""Adapters that let other frameworks use a rag-fed federation (e.g. ``rag_fed.integrations.langchain``).

Each adapter lives in its own module and is the only place that imports its framework, so importing
``rag_fed`` never requires LangChain or any other optional package. Import the adapter module itself.
"""

__all__: list[str] = []
