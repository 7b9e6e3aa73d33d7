"""Quality evaluation: question sets, metrics and reports over the rag library."""
