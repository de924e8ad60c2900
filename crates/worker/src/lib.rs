//! placeholder

pub mod output;
