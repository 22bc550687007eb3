//! The model: what the deploy reads, as plain data. The AWS adapters ([`crate::aws`]) fill
//! these types and the rules ([`crate::rules`]) judge them, so both depend on this folder and
//! neither on the other. Nothing here does I/O or names an SDK type.

pub mod claims;
pub mod codedeploy;
pub mod image;
pub mod scheduled;
pub mod service;
