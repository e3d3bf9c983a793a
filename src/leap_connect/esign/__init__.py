"""Additional terms: versioned documents, e-signatures and signed PDF agreements."""
