//! `cutover watch`: during-shift monitoring (being built)

pub mod webhook;
