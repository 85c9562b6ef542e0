//! The built-in exchange simulator (see sim helper).
