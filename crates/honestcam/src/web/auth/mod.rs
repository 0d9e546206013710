//! Who is asking: checks the proofs of identity a request carries.

pub mod access;
