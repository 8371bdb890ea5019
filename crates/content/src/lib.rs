//! content (in progress)
