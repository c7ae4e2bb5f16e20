"""Contract tests a backend runs to show it keeps a rag-fed contract, shipped with the package (as Haystack
ships ``haystack/testing/document_store.py``) so that a backend outside this repository can run them too.

Each module holds one contract class: subclass it in a test module, named ``Test...`` so pytest collects
it, provide what its docstring asks for, and every test of the contract runs against your backend.

- ``connector.ConnectorContract``: a loader of one kind of file (``connectors.base.Connector``);
- ``vector_index.VectorIndexContract``: nearest neighbours by inner product (``indexes.base.VectorIndex``);
- ``docstore.DocStoreContract``: transactional documents, chunks, vectors and keywords (``indexes.base.DocStore``);
- ``embedder.EmbedderContract``: text to unit vectors (``rag_fed.embedders.base.Embedder``);
- ``generator.GeneratorContract``: a chat model, streamed (``rag_fed.generators.base.Generator``);
- ``site_client.SiteClientContract``: the router's view of one site (``rag_fed.router.SiteClient``);
  ``InProcessSiteClient`` and ``HttpSiteClient`` pass it.

Needs pytest (a test dependency, not a runtime one): nothing in rag_fed imports this package. For pytest's
detailed assertion messages, call ``pytest.register_assert_rewrite("rag_fed.testing")`` in your conftest.py
before importing a contract (this repository's tests/conftest.py does).
"""
