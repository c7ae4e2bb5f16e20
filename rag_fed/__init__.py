"""rag_fed package."""
