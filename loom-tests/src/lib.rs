//! Loom models of shadow-vars; see README.md.
