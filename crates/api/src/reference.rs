//! Image references. (filled in by the image work)
