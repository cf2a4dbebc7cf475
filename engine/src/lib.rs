//! Pure detection engine: provider knowledge base, classification. No I/O.
